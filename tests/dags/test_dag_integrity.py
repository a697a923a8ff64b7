"""DAG integrity: the three pipelines load with no import errors and have the promised shape.

The DagBag is filled in a fresh interpreter (as the DAG processor does), so ``sys.modules`` there shows
exactly what parsing the DAG files imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
DAG_IDS = ("abalone_sklearn_pipeline", "abalone_pyspark_pipeline", "abalone_scala_pipeline")
EXAMPLE_DAG_IDS = ("example_requirements",)  # tested in test_dag_example_requirements.py
HEAVY = ("sagemaker", "boto3", "sklearn", "pandas", "pyspark", "pyarrow", "numpy", "scipy")

PROBE = r"""
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag

dags = Path(sys.argv[1])
before = set(sys.modules)
bag = BundleDagBag(str(dags), bundle_path=dags, bundle_name="dags-folder")
new = sorted({m.split(".")[0] for m in set(sys.modules) - before})
out = {"import_errors": {str(k): v for k, v in bag.import_errors.items()}, "new_modules": new, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "fileloc": dag.fileloc,
        "schedule": str(dag.schedule),
        "catchup": dag.catchup,
        "tags": sorted(dag.tags),
        "max_active_runs": dag.max_active_runs,
        "params": dag.params.dump(),
        "tasks": {
            t.task_id: {
                "operator": type(t).__name__,
                "owner": t.owner,
                "retries": t.retries,
                "retry_delay": t.retry_delay.total_seconds(),
                "downstream": sorted(t.downstream_task_ids),
                "upstream": sorted(t.upstream_task_ids),
                "inputs": t.inputs,
                "outputs": t.outputs,
                "arguments": t.arguments,
                "submit_app": getattr(t, "submit_app", None),
                "code": getattr(t, "code", None),
                "submit_class": getattr(t, "submit_class", None),
                "instance_count": t.instance_count,
                "aws_conn_id": t.aws_conn_id,
                "code_location": t.code_location,
            }
            for t in dag.tasks
        },
    }
print("PROBE-JSON " + json.dumps(out, default=str))
"""


def parse_dags(tmp_path: Path) -> dict:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(DAGS)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBE-JSON "))
    return json.loads(line.removeprefix("PROBE-JSON "))


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> dict:
    return parse_dags(tmp_path_factory.mktemp("dagbag"))


def test_no_import_errors_and_the_three_dags(bag):
    assert bag["import_errors"] == {}
    assert sorted(bag["dags"]) == sorted(DAG_IDS + EXAMPLE_DAG_IDS)


def test_shared_module_is_not_parsed_as_dag_file(bag):
    files = {Path(d["fileloc"]).name for d in bag["dags"].values()}
    assert files == {f"{dag_id}.py" for dag_id in DAG_IDS + EXAMPLE_DAG_IDS}


def test_parsing_imports_no_heavy_library(bag):
    assert not set(HEAVY) & set(bag["new_modules"]), bag["new_modules"]


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_schedule_catchup_tags(bag, dag_id):
    dag = bag["dags"][dag_id]
    assert dag["schedule"] == "@daily"
    assert dag["catchup"] is False
    assert {"abalone", "sagemaker-processing"} <= set(dag["tags"])
    # > 1: the manual run that unpausing from the trigger form queues must not wait for the
    # scheduled run unpausing creates first (issue 9, item 7)
    assert dag["max_active_runs"] > 1


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_owner_and_retries(bag, dag_id):
    for task in bag["dags"][dag_id]["tasks"].values():
        assert task["owner"] not in ("", "airflow")
        assert task["retries"] >= 2
        assert task["retry_delay"] >= 30


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_chain_feature_engineering_split_validation(bag, dag_id):
    tasks = bag["dags"][dag_id]["tasks"]
    assert set(tasks) == {"feature_engineering", "split", "validation"}
    assert tasks["feature_engineering"]["upstream"] == []
    assert tasks["feature_engineering"]["downstream"] == ["split"]
    assert tasks["split"]["downstream"] == ["validation"]
    assert tasks["validation"]["downstream"] == []


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_params_defaults(bag, dag_id):
    params = bag["dags"][dag_id]["params"]
    assert params["aws_conn_id"] == "aws_default"  # the connection picks the backend
    assert (
        params["input_uri"] is None
    )  # blank: Variable, else the shipped data (tests/dags/test_dag_pipeline_defaults.py)
    assert params["output_root_uri"] is None
    assert params["train_ratio"] == 0.7
    assert params["validation_ratio"] == 0.15
    assert params["seed"] == 42
    assert params["instance_type"] == "ml.m5.xlarge"
    assert params["min_r2"] == 0.3
    assert ("instance_count" in params) == (dag_id != "abalone_sklearn_pipeline")


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_steps_are_wired_through_the_run_folder(bag, dag_id):
    tasks = bag["dags"][dag_id]["tasks"]
    fe, split, validation = (tasks[t] for t in ("feature_engineering", "split", "validation"))
    produced = {o["output_name"]: o["destination"] for t in (fe, split) for o in t["outputs"]}
    # every input of a later step is an output of an earlier one (same template), or the raw input
    for task in (split, validation):
        for channel in task["inputs"]:
            if channel["input_name"] == "raw":
                assert channel["source"] == fe["inputs"][0]["source"]
            else:
                assert channel["source"] == produced[channel["input_name"]]
            assert channel["destination"] == f"/opt/ml/processing/input/{channel['input_name']}"
    assert [o["output_name"] for o in validation["outputs"]] == ["report"]
    assert fe["arguments"][:2] == ["--train-ratio", "{{ params.train_ratio }}"]


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_task_runs_through_the_connection_param(bag, dag_id):
    """One Param picks the backend for the whole run: local paths or the AWS code path."""
    for task in bag["dags"][dag_id]["tasks"].values():
        assert task["aws_conn_id"] == "{{ params.aws_conn_id }}"
        assert task["code_location"] == "{{ abalone_code_location() }}"


def test_each_dag_names_its_own_engine(bag):
    dags = bag["dags"]
    sk = dags["abalone_sklearn_pipeline"]["tasks"]
    assert {t["operator"] for t in sk.values()} == {"SKLearnProcessorOperator"}
    assert sk["validation"]["code"] == str(REPO / "processing_scripts/sklearn/validate.py")
    assert sk["validation"]["instance_count"] == 1
    py = dags["abalone_pyspark_pipeline"]["tasks"]
    assert {t["operator"] for t in py.values()} == {"PySparkProcessorOperator"}
    assert py["split"]["submit_app"] == str(REPO / "processing_scripts/pyspark/split.py")
    sc = dags["abalone_scala_pipeline"]["tasks"]
    assert {t["operator"] for t in sc.values()} == {"SparkJarProcessorOperator"}
    assert {t["submit_app"] for t in sc.values()} == {str(REPO / "scala_jobs/target/abalone-jobs.jar")}
    assert [sc[t]["submit_class"] for t in ("feature_engineering", "split", "validation")] == [
        "abalone.FeatureEngineering",
        "abalone.Split",
        "abalone.Validate",
    ]
