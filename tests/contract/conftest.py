"""The contract suite's backends: one fixture, the same test cases on each.

- ``local``: the local backend in process (connection extra ``processing_backend: local``);
- ``serve``: the AWS code path (Amazon provider hooks, S3 uploads to moto, CloudWatch tailing) against
  the local backend behind ``sm-processing serve`` (its HTTP server, in a thread of this process),
  reached through the connection's ``service_config`` endpoints: real jobs, AWS's protocol;
- ``moto``: the AWS code path against moto's server, patched so that jobs have real lifecycles
  (``moto_lifecycle.py``).

A job's behaviour is given by its ``Environment`` (``SIM_*``, see ``moto_lifecycle.py``): the job
script below does what the variables say on the backends that run code, the patched moto simulates
the same on the one that does not.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
JOB_SCRIPT = """
import json, os, pathlib, sys, time

env = os.environ
host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
print(f"job starting on {host}", flush=True)
time.sleep(float(env.get("SIM_SECONDS", "2")))
for i in range(int(env.get("SIM_LOG_LINES", "2"))):
    print(f"{host} line {i}", flush=True)
status = env.get("SIM_OUTCOME", "Completed")
if status == "Failed":
    pathlib.Path("/opt/ml/output/message").write_text(env.get("SIM_EXIT_MESSAGE", "failed"))
    print("job ended Failed", flush=True)
    sys.exit(3)
out = pathlib.Path("/opt/ml/processing/output/result")
out.mkdir(parents=True, exist_ok=True)
(out / f"{host}.json").write_text(json.dumps({"host": host}))
print("job ended Completed", flush=True)
"""


@dataclass
class ContractEnv:
    """One backend under test and how to aim an operator at it."""

    name: str
    runs_code: bool  # False: the job is simulated (no outputs are written)
    uploads: bool  # True: the AWS path (S3 uploads, KMS)
    script: Path
    operator_kwargs: dict[str, Any] = field(default_factory=dict)
    throttle: Callable[[int], dict[str, str]] = lambda n: {}
    code_bucket: str | None = None
    run_id: str = field(default_factory=lambda: f"manual__{uuid.uuid4().hex}")  # one per test

    def context(self, try_number: int = 1) -> dict[str, Any]:
        """The task context of this test's task instance (moto's server outlives the test)."""
        from task_context import context

        return context(try_number=try_number, run_id=self.run_id)

    def backend(self):
        from sagemaker_processing_provider.hooks.processing import ProcessingHook

        return ProcessingHook().backend


def _conn(monkeypatch: pytest.MonkeyPatch, extra: dict) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "extra": extra}))


def _local_throttle(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], dict[str, str]]:
    """Throttle the engine's describe (as a busy API would) for the next ``n`` calls."""
    from botocore.exceptions import ClientError
    from sagemaker_processing_provider.local.backend import LocalProcessingBackend

    def arm(n: int) -> dict[str, str]:
        real, left = LocalProcessingBackend.describe_processing_job, {"n": n}

        def describe(self, ProcessingJobName: str):  # noqa: N803 (boto3's name)
            if left["n"] > 0:
                left["n"] -= 1
                error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
                raise ClientError(error, "DescribeProcessingJob")
            return real(self, ProcessingJobName=ProcessingJobName)

        monkeypatch.setattr(LocalProcessingBackend, "describe_processing_job", describe)
        return {}

    return arm


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``sm-processing serve``'s server on a free port, in a thread (so faults can be injected here)."""
    import threading

    from sagemaker_processing_provider.local.backend import LocalProcessingBackend
    from sagemaker_processing_provider.local.server import Api, Server

    server = Server(("127.0.0.1", 0), Api(LocalProcessingBackend(tmp_path / "served-store")))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _aws_path(request, monkeypatch: pytest.MonkeyPatch, service_config: dict | None) -> str:
    """The AWS connection (S3 on moto; SageMaker and Logs at ``service_config`` if given); a code bucket."""
    import boto3

    request.getfixturevalue("aws_env")
    extra: dict[str, Any] = {"region_name": "us-east-1"}
    if service_config:
        extra["service_config"] = service_config
    _conn(monkeypatch, extra)
    bucket = f"contract-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(params=["local", "serve", "moto"])
def contract(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ContractEnv]:
    script = tmp_path / "job.py"
    script.write_text(JOB_SCRIPT)
    common = {"image_uri": IMAGE, "instance_type": "ml.m5.xlarge", "code": str(script), "check_interval": 0.2}
    if request.param == "local":
        _conn(monkeypatch, {"processing_backend": "local", "local_home": str(tmp_path / "store")})
        out = tmp_path / "out"
        outputs = [
            {"source": "/opt/ml/processing/output/result", "destination": str(out), "output_name": "result"}
        ]
        yield ContractEnv(
            "local",
            True,
            False,
            script,
            {**common, "outputs": outputs},
            throttle=_local_throttle(monkeypatch),
        )
        return
    request.getfixturevalue("aws_env")
    import boto3
    import moto_lifecycle

    moto_lifecycle.install(monkeypatch)
    _conn(monkeypatch, {"region_name": "us-east-1"})
    bucket = f"contract-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    outputs = [
        {
            "source": "/opt/ml/processing/output/result",
            "destination": f"s3://{bucket}/out",
            "output_name": "result",
        }
    ]
    yield ContractEnv(
        "moto",
        False,
        True,
        script,
        {**common, "role": ROLE, "outputs": outputs, "code_location": f"s3://{bucket}/code"},
        throttle=lambda n: {"SIM_THROTTLE_DESCRIBES": str(n)},
        code_bucket=bucket,
    )
