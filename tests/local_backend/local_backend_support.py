"""Helpers for the local backend tests: build requests, await jobs, find processes."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from sagemaker_processing_provider.local.backend import LocalProcessingBackend

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
TERMINAL = ("Completed", "Failed", "Stopped")


def make_request(name: str, script: Path | str | None = None, **overrides: Any) -> dict[str, Any]:
    """A plain CreateProcessingJob request, as the SageMaker SDK would send it."""
    request: dict[str, Any] = {
        "ProcessingJobName": name,
        "RoleArn": "arn:aws:iam::000000000000:role/SageMakerRole",
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 1}
        },
        "AppSpecification": {
            "ImageUri": SKLEARN_IMAGE,
            "ContainerEntrypoint": ["python3", str(script or "-V")],
        },
    }
    request.update(overrides)
    return request


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait(backend: LocalProcessingBackend, name: str, timeout: float = 120) -> dict[str, Any]:
    """Poll describe until the job is terminal (a hang fails the test, it does not time it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = backend.describe_processing_job(ProcessingJobName=name)
        if job["ProcessingJobStatus"] in TERMINAL:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {name} still {job['ProcessingJobStatus']} after {timeout}s")


def wait_for(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose command line contains ``marker`` (works across PID namespaces)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found
