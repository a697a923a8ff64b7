"""Helpers for the operator tests: operator factory, job waits (the task context: ``tests/task_context.py``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sagemaker_processing_provider.local.backend import LocalProcessingBackend
from sagemaker_processing_provider.operators.sklearn import SKLearnProcessorOperator
from task_context import TaskInstanceStub, context  # noqa: F401 (re-exported for the tests here)

TERMINAL = ("Completed", "Failed", "Stopped")


def sklearn_operator(files: dict[str, Path], mode: str = "ok", **overrides: Any) -> SKLearnProcessorOperator:
    kwargs: dict[str, Any] = {
        "task_id": "process",
        "framework_version": "1.2-1",
        "instance_type": "ml.m5.xlarge",
        "code": str(files["script"]),
        "arguments": [mode],
        "env": {"RELEASE_FILE": str(files["release"])},
        "inputs": [{"source": str(files["data"]), "destination": "/opt/ml/processing/input/data"}],
        "outputs": [
            {
                "source": "/opt/ml/processing/output/result",
                "destination": str(files["out"]),
                "output_name": "result",
            }
        ],
        "check_interval": 0.2,
    }
    kwargs.update(overrides)
    return SKLearnProcessorOperator(**kwargs)


def wait_for_status(home: Path, name: str, wanted: tuple[str, ...], timeout: float = 120) -> dict[str, Any]:
    """Poll until the job reaches one of ``wanted`` (a hang fails the test; nothing is timed)."""
    backend = LocalProcessingBackend(home)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            description = backend.describe_processing_job(ProcessingJobName=name)
        except Exception:
            description = {"ProcessingJobStatus": "absent"}
        if description["ProcessingJobStatus"] in wanted:
            return description
        time.sleep(0.1)
    raise AssertionError(f"job {name} never reached {wanted}")


def job_names(home: Path) -> list[str]:
    answer = LocalProcessingBackend(home).list_processing_jobs()
    return sorted(s["ProcessingJobName"] for s in answer["ProcessingJobSummaries"])
