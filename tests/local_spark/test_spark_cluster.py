"""Slow end-to-end: PySpark jobs with ``InstanceCount`` 2 on the local Spark standalone cluster.

Few tests, each proving several things, because JVM start-ups dominate: the local backend (2 instances
against 1, same result, executors on both hosts per the event log), a worker JVM killed mid-job through
the AWS path (``sm-processing serve``, S3 on moto), and stop / ``MaxRuntimeInSeconds`` with clusters
running. Every test ends by checking that no process of the job is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from endpoint_support import s3_objects, start_endpoint, wait_for
from sagemaker_processing_provider.local.backend import LocalProcessingBackend
from sagemaker_processing_provider.local.smspark_options import OPT_ML_ENV
from spark_cluster_support import (
    assert_no_process_left,
    executor_events,
    expected_summary,
    spark_request,
    wait_until,
    worker_jvm,
    write_inputs,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fast_jvm")]
TIMEOUT = 600  # a hang fails the test; nothing is timed


def _local_job(backend: LocalProcessingBackend, tmp_path: Path, instances: int, *args: str, **kw) -> str:
    name = f"cluster-{instances}-{uuid.uuid4().hex[:8]}"
    inputs = {k: f"file://{v}" for k, v in write_inputs(tmp_path / "in").items()}
    outputs = {k: f"file://{tmp_path / name / k}" for k in ("result", "events")}
    backend.create_processing_job(**spark_request(name, instances, inputs, outputs, *args, **kw))
    return name


def _log(backend: LocalProcessingBackend, name: str) -> str:
    return "\n".join(backend.get_log_events(ProcessingJobName=name, StartFromOffset=0)["events"])


def _event_log(folder: Path) -> list[str]:
    (path,) = [p for p in folder.rglob("events_*") if p.is_file()]
    return path.read_text().splitlines()


def test_two_instances_spread_over_two_workers_with_the_result_of_one(tmp_path):
    backend = LocalProcessingBackend(tmp_path / "store")
    one, two = _local_job(backend, tmp_path, 1), _local_job(backend, tmp_path, 2)  # side by side

    jobs = {name: wait_for(backend, name, timeout=TIMEOUT) for name in (one, two)}

    for name, job in jobs.items():
        assert job["ProcessingJobStatus"] == "Completed", (
            job.get("FailureReason"),
            _log(backend, name)[-4000:],
        )
    result = {n: json.loads((tmp_path / n / "result" / "result.json").read_text()) for n in (one, two)}
    assert result[one]["summary"] == result[two]["summary"] == expected_summary()
    assert result[one]["hosts"] == ["local"]  # local[*]: no worker
    assert result[two]["hosts"] == ["algo-1", "algo-2"]  # tasks ran in both hosts' executors
    added, removed = executor_events(_event_log(tmp_path / two / "events"))
    assert sorted(added.values()) == ["algo-1", "algo-2"] and not removed
    log = _log(backend, two)
    assert "[algo-1] " in log and "Spark cluster ready: spark://127.0.0.1:" in log
    assert "[algo-2] " in log and "algo-2: Spark worker 127.0.0.1:" in log
    for name in (one, two):
        assert_no_process_left(tmp_path / "store" / "jobs" / name)


def test_stop_and_max_runtime_end_every_cluster_process(tmp_path):
    backend = LocalProcessingBackend(tmp_path / "store")
    marker = tmp_path / "tasks-started"
    stopped = _local_job(backend, tmp_path, 2, "--marker", str(marker), "--task-seconds", "600")
    timed_out = _local_job(backend, tmp_path, 2, "--task-seconds", "600", max_runtime=40)
    jobs = tmp_path / "store" / "jobs"

    wait_until(marker.exists, "the first job's tasks to run on its cluster", TIMEOUT)
    backend.stop_processing_job(ProcessingJobName=stopped)

    assert wait_for(backend, stopped, timeout=60)["ProcessingJobStatus"] == "Stopped"
    job = wait_for(backend, timed_out, timeout=TIMEOUT)
    assert job["ProcessingJobStatus"] == "Failed" and job["FailureReason"].startswith("MaxRuntimeExceeded")
    assert (jobs / timed_out / "spark-cluster" / "master.json").exists()  # its cluster was up when killed
    for name in (stopped, timed_out):
        assert_no_process_left(jobs / name)


@pytest.fixture
def endpoint(moto_server, aws_subprocess_env, fast_jvm, tmp_path):
    server = start_endpoint(
        tmp_path / "served", {**aws_subprocess_env, "JAVA_TOOL_OPTIONS": fast_jvm}, moto_server
    )
    try:
        yield server
    finally:
        server.stop()


def test_aws_path_a_worker_killed_mid_job_its_tasks_run_again_elsewhere(aws_env, endpoint, tmp_path):
    import boto3

    s3, bucket, name = (
        boto3.client("s3"),
        f"cluster-{uuid.uuid4().hex[:10]}",
        f"cluster-kill-{uuid.uuid4().hex[:8]}",
    )
    s3.create_bucket(Bucket=bucket)
    for channel, folder in write_inputs(tmp_path / "in").items():
        for path in folder.iterdir():
            s3.upload_file(str(path), bucket, f"{channel}/{path.name}")
    inputs = {k: f"s3://{bucket}/{k}/" for k in ("code", "data", "conf")}
    outputs = {k: f"s3://{bucket}/out/{k}" for k in ("result", "events")}
    marker = tmp_path / "tasks-started"
    sagemaker, logs = endpoint.client("sagemaker"), endpoint.client("logs")
    request = spark_request(name, 2, inputs, outputs, "--marker", str(marker), "--task-seconds", "1")
    sagemaker.create_processing_job(**request)
    job_dir = endpoint.home / "jobs" / name

    wait_until(marker.exists, "the tasks to run on the cluster", TIMEOUT)
    os.kill(worker_jvm(job_dir, "algo-2"), signal.SIGKILL)
    job = wait_for(sagemaker, name, timeout=TIMEOUT)

    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    result = json.loads(s3_objects(bucket, "out/result")["out/result/result.json"])
    assert result["summary"] == expected_summary()  # Spark ran the lost tasks again on algo-1
    events = [text for key, text in s3_objects(bucket, "out/events").items() if "/events_" in key]
    added, removed = executor_events(events[0].splitlines())
    assert sorted(added.values()) == ["algo-1", "algo-2"]
    (lost,) = [e for e, host in added.items() if host == "algo-2"]
    assert list(removed) == [lost], removed
    stream = next(s for s in logs.describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs",
                                                       logStreamNamePrefix=f"{name}/algo-2")["logStreams"])  # fmt: skip
    lines = [e["message"] for e in logs.get_log_events(logGroupName="/aws/sagemaker/ProcessingJobs",
                                                       logStreamName=stream["logStreamName"], startFromHead=True)["events"]]  # fmt: skip
    assert any("algo-2: the Spark worker died (killed by signal 9) while the job runs" in x for x in lines), (
        lines[-30:]
    )
    assert_no_process_left(job_dir)


FAILING_APP = textwrap.dedent(
    """
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.getOrCreate()  # waits until every executor has registered
    assert spark.sparkContext.parallelize(range(4), 4).count() == 4
    raise ValueError("no rows with rings > 100")
    """
)


def test_a_failing_app_ends_the_cluster_on_every_host_without_the_backend(tmp_path):
    """Two hosts' smspark-submit side by side, as the backend runs them but without its PID namespaces
    (which would kill what is left): the cluster's own shutdown must leave nothing behind."""
    job, app = tmp_path / "job", tmp_path / "fail.py"
    app.write_text(FAILING_APP)
    procs = {}
    for host in ("algo-1", "algo-2"):
        ml, work = tmp_path / host / "ml", job / "hosts" / host / "work"
        (ml / "config").mkdir(parents=True)
        work.mkdir(parents=True)
        resources = {
            "current_host": host,
            "hosts": ["algo-1", "algo-2"],
            "current_instance_type": "ml.m5.xlarge",
        }
        (ml / "config" / "resourceconfig.json").write_text(json.dumps(resources))
        env = {**os.environ, OPT_ML_ENV: str(ml), "SM_PROCESSING_JOB_DIR": str(job),
               "SM_PROCESSING_SANDBOX_PROBED": "namespace"}  # fmt: skip
        command = [sys.executable, "-m", "sagemaker_processing_provider.local.smspark_submit", str(app)]
        procs[host] = subprocess.Popen(
            command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    try:
        logs = {host: proc.communicate(timeout=TIMEOUT)[0].decode() for host, proc in procs.items()}
    finally:
        for proc in procs.values():
            proc.kill()

    assert procs["algo-1"].returncode == 1, logs["algo-1"][-3000:]
    message = (tmp_path / "algo-1" / "ml" / "output" / "message").read_text()
    assert message.endswith("Last error: ValueError: no rows with rings > 100")
    assert "Spark cluster ready" in logs["algo-1"]
    assert procs["algo-2"].returncode == 0, logs["algo-2"][-3000:]
    assert "algo-2: the primary algo-1 ended the job; stopping this host's Spark worker" in logs["algo-2"]
    assert_no_process_left(job)
