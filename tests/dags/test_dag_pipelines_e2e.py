"""End to end: each pipeline DAG through ``scripts/local_airflow.py run`` (the real ``airflow dags test``)
on the local backend, in a temporary AIRFLOW_HOME and SM_PROCESSING_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "local_airflow.py"


@pytest.fixture(scope="module")
def homes(tmp_path_factory, with_migrated_db) -> tuple[Path, Path]:
    """One Airflow home for the module (the session's migrated database), one job store."""
    root = tmp_path_factory.mktemp("pipelines")
    return with_migrated_db(root / "airflow"), root / "sm-processing"


def local_airflow(homes: tuple[Path, Path], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    airflow_home, sm_home = homes
    env = {**os.environ, "SM_PROCESSING_HOME": str(sm_home)}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--airflow-home", str(airflow_home), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def job_states(sm_home: Path, dag_id: str) -> dict[str, str]:
    """``{job name: status}`` of the DAG's jobs, as the real ``sm-processing list`` reports them."""
    done = subprocess.run(
        [sys.executable, "-m", "sagemaker_processing_provider.local.cli", "--home", str(sm_home), "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    prefix = dag_id.replace("_", "-") + "-"
    return {
        j["ProcessingJobName"]: j["ProcessingJobStatus"]
        for j in json.loads(done.stdout)["ProcessingJobSummaries"]
        if j["ProcessingJobName"].startswith(prefix)
    }


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sklearn", "pyspark", "scala"])
def test_pipeline_runs_to_success(homes, engine):
    dag_id = f"abalone_{engine}_pipeline"
    done = local_airflow(homes, "run", "--dag", engine)
    assert done.returncode == 0, (done.stdout[-6000:], done.stderr[-6000:])
    assert f"DAG run {dag_id} / " in done.stdout and ": success" in done.stdout

    states = job_states(homes[1], dag_id)
    assert sorted(states.values()) == ["Completed"] * 3, states
    for task in ("feature-engineering", "split", "validation"):
        assert any(name.startswith(f"{dag_id.replace('_', '-')}-{task}-") for name in states)

    reports = list((homes[1] / "pipelines" / dag_id).glob("*/report/validation_report.json"))
    assert len(reports) == 1, reports
    assert json.loads(reports[0].read_text())["status"] == "passed"
    assert "Result: PASSED" in done.stdout
    assert (reports[0].parent / "validation_report.md").is_file()
    assert str(reports[0].parent / "validation_report.md") in done.stdout
    for split in ("train", "validation", "test"):
        assert any((reports[0].parent.parent / split).iterdir())


@pytest.mark.slow
def test_invalid_params_fail_the_command(homes):
    done = local_airflow(homes, "run", "--dag", "sklearn", "--conf", '{"train_ratio": 1.5}', timeout=300)
    assert done.returncode != 0
    assert "train_ratio" in done.stdout + done.stderr


def test_unknown_dag_and_bad_conf_are_clear_errors(tmp_path):
    home = (tmp_path / "airflow", tmp_path / "sm")
    done = local_airflow(home, "run", "--dag", "nope", timeout=60)
    assert done.returncode == 2
    assert "--dag: unknown pipeline 'nope'" in done.stderr
    done = local_airflow(home, "run", "--conf", "{not json", timeout=60)
    assert done.returncode == 2
    assert "--conf: expected a JSON object" in done.stderr
    assert not (tmp_path / "airflow").exists()  # nothing prepared for a command that cannot run
