"""Both waits under Airflow's real task runner: ``airflow dags test`` on a DAG using the operator."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_operators_support import job_names
from sagemaker_processing_provider.links.processing import JOB_NAME_KEY, ProcessingJobLink, ProcessingLogsLink
from sagemaker_processing_provider.local.backend import LocalProcessingBackend

DAG_FILE = """
from airflow.sdk import DAG
from sagemaker_processing_provider.operators.sklearn import SKLearnProcessorOperator

with DAG("ops_dags_test", schedule=None, tags=["test"]):
    for mode in ("sync", "defer"):
        SKLearnProcessorOperator(
            task_id=f"proc_{{mode}}",
            base_job_name="ops-dags-test",
            framework_version="1.2-1",
            instance_type="ml.m5.xlarge",
            code={code!r},
            arguments=["{{{{ ds }}}}"],
            check_interval=0.5,
            deferrable=mode == "defer",
        )
"""
AIRFLOW = str(Path(sys.executable).parent / "airflow")
JOB = "import sys\nprint('hello from the job, ds =', sys.argv[1])\n"


TIMEOUT_DAG = """
from datetime import timedelta
from airflow.sdk import DAG
from sagemaker_processing_provider.operators.sklearn import SKLearnProcessorOperator

with DAG("ops_timeout_test", schedule=None):
    SKLearnProcessorOperator(
        task_id="slow_deferred",
        base_job_name="ops-timeout-test",
        image_uri="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        instance_type="ml.m5.xlarge",
        code={code!r},
        check_interval=0.5,
        deferrable=True,
        execution_timeout=timedelta(seconds=10),
    )
"""


SLEEPER = "import time\nprint('sleeping', flush=True)\ntime.sleep(300)\n"


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory, with_migrated_db) -> dict[str, str]:
    """One migrated Airflow home for the module (the session's database), with both test DAGs."""
    root = tmp_path_factory.mktemp("dags-test")
    dags = root / "dags"
    dags.mkdir()
    (root / "job.py").write_text(JOB)
    (root / "sleeper.py").write_text(SLEEPER)
    (dags / "ops_dags_test.py").write_text(DAG_FILE.format(code=str(root / "job.py")))
    (dags / "ops_timeout_test.py").write_text(TIMEOUT_DAG.format(code=str(root / "sleeper.py")))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "SM_PROCESSING_HOME": str(root / "store"),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "extra": {"processing_backend": "local"}}
        ),
    }
    with_migrated_db(root / "airflow")
    return env


def dags_test(env: dict[str, str], dag_id: str) -> tuple[subprocess.CompletedProcess, str]:
    run = subprocess.run(
        [AIRFLOW, "dags", "test", dag_id], env=env, capture_output=True, text=True, timeout=300
    )
    return run, run.stdout + run.stderr


def jobs_of(env: dict[str, str], dag_id: str) -> list[str]:
    """The job names of one test DAG (its tasks' ``base_job_name`` is the DAG id, dashed)."""
    return [
        n for n in job_names(Path(env["SM_PROCESSING_HOME"])) if n.startswith(dag_id.replace("_", "-") + "-")
    ]


@pytest.mark.slow
def test_sync_and_deferrable_tasks_succeed_under_airflow_dags_test(airflow_env: dict[str, str]) -> None:
    run, output = dags_test(airflow_env, "ops_dags_test")
    assert run.returncode == 0, output[-3000:]
    assert "state=success" in output
    assert output.count("[job] hello from the job, ds = 20") == 2  # task log (sync), trigger log (defer)
    assert "Deferring: the triggerer waits for" in output
    names = jobs_of(airflow_env, "ops_dags_test")
    assert len(names) == 2 and all(name.endswith("-t1") for name in names)
    with sqlite3.connect(Path(airflow_env["AIRFLOW_HOME"]) / "airflow.db") as db:
        query = (
            "select key, value from xcom where dag_id = 'ops_dags_test' and key like 'sagemaker_processing_%'"
        )
        links = dict(db.execute(query).fetchall())
    assert set(links) == {ProcessingJobLink.key, ProcessingLogsLink.key, JOB_NAME_KEY}
    assert (
        json.loads(links[ProcessingLogsLink.key])
        == f"/sm-processing/jobs/{json.loads(links[JOB_NAME_KEY])}/log"
    )
    assert json.loads(links[JOB_NAME_KEY]) in names


@pytest.mark.slow
def test_deferred_task_times_out_and_stops_its_job_under_airflow_dags_test(
    airflow_env: dict[str, str],
) -> None:
    """Before: a deferred task's execution_timeout did nothing (the job ran on); now the task fails and
    its job is stopped when the timeout passes."""
    run, output = dags_test(airflow_env, "ops_timeout_test")
    assert "state=failed" in output or run.returncode != 0, output[-3000:]
    assert "Deferring: the triggerer waits for" in output  # the timeout hit the deferred wait
    assert "execution_timeout (0:00:10) reached" in output and "was stopped" in output
    [name] = jobs_of(airflow_env, "ops_timeout_test")
    store = Path(airflow_env["SM_PROCESSING_HOME"])
    status = LocalProcessingBackend(store).describe_processing_job(ProcessingJobName=name)[
        "ProcessingJobStatus"
    ]
    assert status in ("Stopping", "Stopped")
