"""Slow end-to-end: a Spark processing request, as the SDK's PySparkProcessor sends it, through
``LocalProcessingBackend`` (runtime shims, sandboxed ``/opt/ml``, inputs, Continuous event logs)."""

from __future__ import annotations

import json
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sagemaker_processing_provider.local.backend import LocalProcessingBackend
from spark_cluster_support import spark_request

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fast_jvm")]

# Written for SageMaker's Spark container: hard-coded /opt/ml paths, unaware of this project.
APP = textwrap.dedent(
    """
    import json, sys
    from pyspark.sql import SparkSession, functions as F

    spark = SparkSession.builder.appName("sm-spark-e2e").getOrCreate()
    df = spark.read.csv("/opt/ml/processing/input/data", header=True, inferSchema=True)
    if "--fail" in sys.argv:
        raise RuntimeError("no rows with rings > 100")
    out = df.groupBy("sex").agg(F.count("*").alias("n"), F.avg("rings").alias("rings"))
    out.coalesce(1).write.mode("overwrite").json("/opt/ml/processing/output/summary")
    info = {"partitions": spark.conf.get("spark.sql.shuffle.partitions"), "args": sys.argv[1:]}
    with open("/opt/ml/processing/output/summary/info.json", "w") as f:
        json.dump(info, f)
    spark.stop()
    """
)
DATA = "sex,length,rings\nM,0.455,15\nF,0.53,9\nM,0.44,10\nI,0.33,7\n"


def _request(tmp_path: Path, name: str, arguments: list[str]) -> dict[str, Any]:
    code, data, conf = tmp_path / "code", tmp_path / "data", tmp_path / "conf"
    for folder in (code, data, conf):
        folder.mkdir(exist_ok=True)
    (code / "app.py").write_text(APP)
    (data / "abalone.csv").write_text(DATA)
    configuration = [
        {"Classification": "spark-defaults", "Properties": {"spark.sql.shuffle.partitions": "3"}}
    ]
    (conf / "configuration.json").write_text(json.dumps(configuration))
    inputs = {"code": f"file://{code}", "data": f"file://{data}", "conf": f"file://{conf}"}
    outputs = {k: f"file://{tmp_path / 'out' / k}" for k in ("summary", "events")}
    return spark_request(name, 1, inputs, outputs, *arguments)


def _wait(backend: LocalProcessingBackend, name: str, timeout: float = 400) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = backend.describe_processing_job(ProcessingJobName=name)
        if job["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"{name} still {job['ProcessingJobStatus']} after {timeout}s")


def _log(backend: LocalProcessingBackend, name: str) -> str:
    return "\n".join(backend.get_log_events(ProcessingJobName=name, StartFromOffset=0)["events"])


def test_spark_job_completes_through_the_local_backend(tmp_path):
    backend = LocalProcessingBackend(tmp_path / "store")
    name = f"spark-e2e-{uuid.uuid4().hex[:8]}"
    backend.create_processing_job(**_request(tmp_path, name, ["--mode", "daily"]))

    job = _wait(backend, name)

    assert job["ProcessingJobStatus"] == "Completed", (job.get("FailureReason"), _log(backend, name)[-3000:])
    summary = tmp_path / "out" / "summary"
    assert json.loads((summary / "info.json").read_text()) == {"partitions": "3", "args": ["--mode", "daily"]}
    rows = [json.loads(line) for p in summary.glob("part-*.json") for line in p.read_text().splitlines()]
    assert sorted((r["sex"], r["n"]) for r in rows) == [("F", 1), ("I", 1), ("M", 2)]
    events = [p for p in (tmp_path / "out" / "events").rglob("*") if p.is_file()]
    assert any(p.name.startswith("events_") for p in events), events
    assert "running spark submit command" in _log(backend, name)


def test_failing_spark_job_is_failed_with_the_reason(tmp_path):
    backend = LocalProcessingBackend(tmp_path / "store")
    name = f"spark-e2e-fail-{uuid.uuid4().hex[:8]}"
    backend.create_processing_job(**_request(tmp_path, name, ["--fail"]))

    job = _wait(backend, name)

    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError")
    assert job["ExitMessage"].startswith("Algorithm Error: (caused by CalledProcessError): spark failed")
    assert job["ExitMessage"].endswith("Last error: RuntimeError: no rows with rings > 100")
    assert not (tmp_path / "out" / "summary" / "info.json").exists()
