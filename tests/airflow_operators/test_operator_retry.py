"""Retry safety against the real local backend: reattach to a running job, never a duplicate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from airflow_operators_support import context, job_names, sklearn_operator, wait_for_status
from sagemaker_processing_provider.hooks.processing import ProcessingHook
from sagemaker_processing_provider.request.names import job_name_for

HERE = Path(__file__).parent


def test_killed_worker_then_retry_reattaches_to_the_one_job(job_home: Path, job_files: dict, capfd) -> None:
    paths = [str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]  # + tests/ (task_context)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    args = [str(job_files[k]) for k in ("script", "data", "out", "release")]
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "airflow_operators_worker.py"), *args, "1"], env=env
    )
    try:
        ti = context()["ti"]
        try1 = job_name_for(
            base="sagemaker-scikit-learn",
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=-1,
            try_number=1,
            namespace=ProcessingHook().namespace,
        )
        wait_for_status(job_home, try1, ("InProgress",))
    finally:
        worker.send_signal(signal.SIGKILL)  # the worker dies without any chance to clean up
        worker.wait()
    assert worker.returncode == -signal.SIGKILL
    assert wait_for_status(job_home, try1, ("InProgress",))["ProcessingJobStatus"] == "InProgress"

    retry = sklearn_operator(job_files, mode="wait")
    outcome: dict = {}
    waiter = threading.Thread(target=lambda: outcome.update(result=retry.execute(context(try_number=2))))
    waiter.start()
    while retry._job_name is None and waiter.is_alive():  # try 2 has chosen its job
        time.sleep(0.05)
    job_files["release"].touch()  # now let the job finish while try 2 waits on it
    waiter.join(120)
    result = outcome["result"]

    assert job_names(job_home) == [try1]
    assert result["job_name"] == try1 and result["status"] == "Completed"
    assert "REATTACHING to processing job" in capfd.readouterr().out
    assert (job_files["out"] / "result.json").exists()


def test_after_a_failed_try_the_retry_runs_a_new_job(job_home: Path, job_files: dict) -> None:
    first = None
    try:
        sklearn_operator(job_files, mode="fail").execute(context(try_number=1))
    except Exception as exc:  # noqa: BLE001 - the failure of try 1 is expected
        first = exc
    assert first is not None
    result = sklearn_operator(job_files).execute(context(try_number=2))
    assert result["job_name"].endswith("-t2") and result["status"] == "Completed"
    assert len(job_names(job_home)) == 2


def test_completed_job_is_reused_only_when_asked(job_home: Path, job_files: dict) -> None:
    first = sklearn_operator(job_files).execute(context(try_number=1))
    reused = sklearn_operator(job_files, reuse_completed_job=True).execute(context(try_number=2))
    assert reused["job_name"] == first["job_name"] and job_names(job_home) == [first["job_name"]]
    rerun = sklearn_operator(job_files).execute(context(try_number=3))
    assert rerun["job_name"].endswith("-t3") and len(job_names(job_home)) == 2
