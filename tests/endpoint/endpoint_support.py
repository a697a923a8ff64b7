"""Helpers for the endpoint tests: the server process, a job and its request as SDKs send it, waits."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
TERMINAL = ("Completed", "Failed", "Stopped")
CODE_PATH = "/opt/ml/processing/input/code/job.py"

# The job every test runs (uploaded to S3 as the SDK uploads code). Modes: ok (count the input rows,
# write <host>.json), lines N [WIDTH] (then ok), wait (until RELEASE_FILE exists), fail (exit 3).
JOB_SCRIPT = """
import json, os, pathlib, sys, time

mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
print(f"{host} starting, mode {mode}", flush=True)
if mode == "lines":
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    for i in range(int(sys.argv[2])):
        print(f"{host} line {i:05d} " + "x" * width, flush=True)
if mode == "wait":
    release = pathlib.Path(os.environ["RELEASE_FILE"])
    for _ in range(2400):  # two minutes at most
        if release.exists():
            break
        time.sleep(0.05)
    print(f"{host} released", flush=True)
if mode == "fail":
    pathlib.Path("/opt/ml/output/message").write_text("3 rows have a null rings value")
    print(f"{host} check failed", flush=True)
    sys.exit(3)
data = pathlib.Path("/opt/ml/processing/input/data")
rows = sum(1 for f in sorted(data.rglob("*")) if f.is_file() for _ in f.open()) if data.exists() else 0
out = pathlib.Path("/opt/ml/processing/output/result")
out.mkdir(parents=True, exist_ok=True)
(out / f"{host}.json").write_text(json.dumps({"rows": rows, "host": host}))
print(f"{host} done, rows {rows}", flush=True)
"""
DATA = {"data/part-1.csv": "a,b\n1,2\n3,4\n", "data/part-2.csv": "a,b\n5,6\n"}  # 5 lines in all


@dataclass
class Endpoint:
    """A running ``sm-processing serve`` process."""

    url: str
    home: Path
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)  # the server's stderr, line by line

    def client(self, service: str, **config: Any) -> Any:
        """A plain boto3 client on this endpoint (``config``: botocore ``Config`` arguments)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            config=Config(**config) if config else None,
        )

    def log(self) -> str:
        return "".join(self.output)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it: it must exit 0, saying so."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        time.sleep(0.1)  # let the reader take the last lines
        assert code == 0, self.log()[-3000:]
        assert "stopped (SIGTERM)" in self.log()


def start_endpoint(home: Path, env: dict[str, str], s3_endpoint: str) -> Endpoint:
    """Start ``sm-processing serve --port 0`` with S3 at ``s3_endpoint``; return once it listens."""
    env = {k: v for k, v in env.items() if k != "AWS_ENDPOINT_URL"}
    env["AWS_ENDPOINT_URL_S3"] = s3_endpoint  # the standard per-service setting, nothing of ours
    command = [sys.executable, "-m", "sagemaker_processing_provider.local.cli", "serve", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--home", str(home)], env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stderr:
            output.append(line)
            if "listening on" in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(60)
    match = re.search(r"listening on (http://\S+)", "".join(output))
    if not match:
        process.kill()
        raise AssertionError("sm-processing serve did not start:\n" + "".join(output))
    return Endpoint(match.group(1), home, process, output)


def seed_bucket(bucket: str) -> None:
    """The job's code and two CSV parts, as a user (or the SDK) would have uploaded them."""
    import boto3

    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="code/job.py", Body=JOB_SCRIPT.encode())
    for key, text in DATA.items():
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode())


def job_request(
    name: str, bucket: str, *arguments: str, hosts: int = 1, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """A CreateProcessingJob request with S3 code, data and output, as the SageMaker SDK sends it."""
    request: dict[str, Any] = {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "AppSpecification": {
            "ImageUri": SKLEARN_IMAGE,
            "ContainerEntrypoint": ["python3", CODE_PATH],
            "ContainerArguments": list(arguments or ["ok"]),
        },
        "ProcessingInputs": [
            _input("code", f"s3://{bucket}/code/job.py", "/opt/ml/processing/input/code"),
            _input("data", f"s3://{bucket}/data/", "/opt/ml/processing/input/data"),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "result",
                    "S3Output": {
                        "S3Uri": f"s3://{bucket}/out/{name}",
                        "LocalPath": "/opt/ml/processing/output/result",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": hosts, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 1}
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }
    if env:
        request["Environment"] = env
    return request


def _input(name: str, uri: str, local_path: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {"S3Uri": uri, "LocalPath": local_path, "S3DataType": "S3Prefix", "S3InputMode": "File"},
    }


def wait_for(sagemaker: Any, name: str, wanted: tuple[str, ...] = TERMINAL, timeout: float = 120) -> dict:
    """Describe until the job's status is in ``wanted`` (a hang fails the test; nothing is timed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sagemaker.describe_processing_job(ProcessingJobName=name)
        if job["ProcessingJobStatus"] in wanted:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {name} is still {job['ProcessingJobStatus']}, not in {wanted}")


def s3_objects(bucket: str, prefix: str) -> dict[str, str]:
    """``{key: text}`` under ``prefix`` in moto's S3."""
    import boto3

    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode() for o in listed}


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}"
