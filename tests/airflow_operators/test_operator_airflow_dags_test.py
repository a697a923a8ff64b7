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
from sagemaker_processing_provider.links.processing import ProcessingJobLink, ProcessingLogsLink

DAG_FILE = """
from airflow.sdk import DAG
from sagemaker_processing_provider.operators.sklearn import SKLearnProcessorOperator

with DAG("ops_dags_test", schedule=None, tags=["test"]):
    for mode in ("sync", "defer"):
        SKLearnProcessorOperator(
            task_id=f"proc_{{mode}}",
            framework_version="1.2-1",
            instance_type="ml.m5.xlarge",
            code={code!r},
            arguments=["{{{{ ds }}}}"],
            check_interval=0.5,
            deferrable=mode == "defer",
        )
"""
JOB = "import sys\nprint('hello from the job, ds =', sys.argv[1])\n"


@pytest.mark.slow
def test_sync_and_deferrable_tasks_succeed_under_airflow_dags_test(tmp_path: Path) -> None:
    airflow_home, dags, store = tmp_path / "airflow", tmp_path / "dags", tmp_path / "store"
    dags.mkdir()
    (tmp_path / "job.py").write_text(JOB)
    (dags / "ops_dags_test.py").write_text(DAG_FILE.format(code=str(tmp_path / "job.py")))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "SM_PROCESSING_HOME": str(store),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "extra": {"processing_backend": "local"}}
        ),
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    run = subprocess.run([airflow, "dags", "test", "ops_dags_test"], env=env, capture_output=True, text=True)
    output = run.stdout + run.stderr

    assert run.returncode == 0, output[-3000:]
    assert "state=success" in output
    assert output.count("[job] hello from the job, ds = 20") == 2  # task log (sync), trigger log (defer)
    assert "Deferring: the triggerer waits for" in output
    names = job_names(store)
    assert len(names) == 2 and all(name.endswith("-t1") for name in names)
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        links = dict(
            db.execute("select key, value from xcom where key like 'sagemaker_processing_%'").fetchall()
        )
    assert set(links) == {ProcessingJobLink.key, ProcessingLogsLink.key}
    assert json.loads(links[ProcessingLogsLink.key]).startswith((store / "jobs").resolve().as_uri())


TIMEOUT_DAG = """
from datetime import timedelta
from airflow.sdk import DAG
from sagemaker_processing_provider.operators.sklearn import SKLearnProcessorOperator

with DAG("ops_timeout_test", schedule=None):
    SKLearnProcessorOperator(
        task_id="slow_deferred",
        image_uri="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        instance_type="ml.m5.xlarge",
        code={code!r},
        check_interval=0.5,
        deferrable=True,
        execution_timeout=timedelta(seconds=10),
    )
"""


@pytest.mark.slow
def test_deferred_task_times_out_and_stops_its_job_under_airflow_dags_test(tmp_path: Path) -> None:
    """Before: a deferred task's execution_timeout did nothing (the job ran on); now the task fails and
    its job is stopped when the timeout passes."""
    airflow_home, dags, store = tmp_path / "airflow", tmp_path / "dags", tmp_path / "store"
    dags.mkdir()
    (tmp_path / "job.py").write_text("import time\nprint('sleeping', flush=True)\ntime.sleep(300)\n")
    (dags / "ops_timeout_test.py").write_text(TIMEOUT_DAG.format(code=str(tmp_path / "job.py")))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "SM_PROCESSING_HOME": str(store),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "extra": {"processing_backend": "local"}}
        ),
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    run = subprocess.run(
        [airflow, "dags", "test", "ops_timeout_test"], env=env, capture_output=True, text=True, timeout=120
    )
    output = run.stdout + run.stderr
    assert "state=failed" in output or run.returncode != 0, output[-3000:]
    assert "Deferring: the triggerer waits for" in output  # the timeout hit the deferred wait
    assert "execution_timeout (0:00:10) reached" in output and "was stopped" in output
    [name] = job_names(store)
    from sagemaker_processing_provider.local.backend import LocalProcessingBackend

    assert LocalProcessingBackend(store).describe_processing_job(ProcessingJobName=name)[
        "ProcessingJobStatus"
    ] in (
        "Stopping",
        "Stopped",
    )
