"""Helpers for the UI plugin's tests: real jobs in a real local store, and a real Airflow to serve them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from sagemaker_processing_provider.local.backend import LocalProcessingBackend

REPO = Path(__file__).resolve().parents[2]
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
TERMINAL = ("Completed", "Failed", "Stopped")
AIRFLOW = str(Path(sys.executable).parent / "airflow")

# A job that logs, writes two output files, and (mode "sleep") runs until stopped.
JOB_SCRIPT = """
import pathlib, sys, time
mode = sys.argv[1]
print("ui-test job starting, mode", mode, flush=True)
for i in range(3):
    print("step", i, flush=True)
out = pathlib.Path("/opt/ml/processing/output/result")
(out / "nested").mkdir(parents=True, exist_ok=True)
(out / "result.csv").write_text("a,b\\n" + "1,2\\n" * 100)
(out / "nested" / "report.json").write_text('{"ok": true}')
if mode == "sleep":
    print("sleeping until stopped", flush=True)
    time.sleep(600)
if mode == "fail":
    print("failing on purpose", flush=True)
    sys.exit(3)
print("ui-test job done", flush=True)
"""


def job_request(name: str, script: Path, mode: str, destination: str) -> dict[str, Any]:
    """A CreateProcessingJob request as the SageMaker SDK sends it, with one local output."""
    return {
        "ProcessingJobName": name,
        "RoleArn": "arn:aws:iam::000000000000:role/SageMakerRole",
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 1}
        },
        "AppSpecification": {
            "ImageUri": SKLEARN_IMAGE,
            "ContainerEntrypoint": ["python3", str(script), mode],
        },
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "result",
                    "S3Output": {
                        "S3Uri": destination,
                        "LocalPath": "/opt/ml/processing/output/result",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
    }


def run_job(backend: LocalProcessingBackend, root: Path, name: str, mode: str) -> Path:
    """Create the job; returns its output folder. ``mode``: ok, fail or sleep (runs until stopped)."""
    script = root / "ui_job.py"
    if not script.exists():
        script.write_text(JOB_SCRIPT)
    out = root / "outputs" / name
    backend.create_processing_job(**job_request(name, script, mode, out.as_uri()))
    return out


def wait(backend: LocalProcessingBackend, name: str, statuses=TERMINAL, timeout: float = 180) -> dict:
    """Poll describe until the job reaches one of ``statuses`` (a hang fails the test)."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        job = backend.describe_processing_job(ProcessingJobName=name)
        status = job["ProcessingJobStatus"]
        if status in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {name} still {status} after {timeout}s")


def wait_for_log(backend: LocalProcessingBackend, name: str, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in line for line in backend.log_tail(name)["events"]):
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the log of {name} after {timeout}s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    """Until ``url``/api/v2/monitor/health answers (Airflow's own health check), or the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"Airflow exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"Airflow not healthy at {url} after {timeout}s:\n{log.read_text()[-4000:]}")


def stop_process_group(proc: subprocess.Popen) -> None:
    """End a server this test started (its own session: its workers too)."""
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def token(url: str, username: str, password: str) -> str:
    """A JWT from the simple auth manager (``POST /auth/token``), as the UI's login gets."""
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(
        f"{url}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["access_token"]
