"""Helpers of the local Spark cluster tests: the app and its request, its expected result, event logs,
and the processes working for a job (to prove none is left)."""

from __future__ import annotations

import csv
import json
import os
import textwrap
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

SPARK_IMAGE = "173754725891.dkr.ecr.us-east-1.amazonaws.com/sagemaker-spark-processing:3.5-cpu"
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
DATA = Path(__file__).parents[2] / "data" / "abalone.csv"
FAST_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"  # test-only: short JVMs on a small shared machine
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"

# Written for SageMaker's Spark container. Options: --marker PATH (touched by every task as it starts:
# the cluster is running), --task-seconds S (each of the 8 tasks sleeps S first).
APP = textwrap.dedent(
    """
    import json, os, sys, time
    from pyspark.sql import SparkSession, functions as F

    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    spark = SparkSession.builder.appName("cluster-e2e").getOrCreate()
    df = spark.read.csv("/opt/ml/processing/input/data", header=True, inferSchema=True)

    def tag(rows):
        if "--marker" in args:
            open(args["--marker"], "a").close()
        time.sleep(float(args.get("--task-seconds", "0")))
        host = os.environ.get("SPARK_EXECUTOR_ATTRIBUTE_SAGEMAKER_HOST", "local")
        for row in rows:
            yield (row.sex, row.rings, round(row.length * 10000), host)

    schema = "sex string, rings int, length long, host string"  # given: no job to infer it
    rows = spark.createDataFrame(df.repartition(8).rdd.mapPartitions(tag), schema)
    groups = rows.groupBy("sex", "host").agg(
        F.count("*").alias("n"), F.sum("rings").alias("rings"), F.sum("length").alias("length")
    ).collect()
    summary = {}
    for g in groups:
        s = summary.setdefault(g.sex, {"n": 0, "rings": 0, "length": 0})
        for key in s:
            s[key] += g[key]
    os.makedirs("/opt/ml/processing/output/result", exist_ok=True)
    with open("/opt/ml/processing/output/result/result.json", "w") as f:
        json.dump({"summary": summary, "hosts": sorted({g.host for g in groups})}, f, sort_keys=True)
    spark.stop()
    """
)
# Event logs as plain JSON lines (Spark 4 compresses them with zstd by default).
CONFIGURATION = [{"Classification": "spark-defaults", "Properties": {"spark.eventLog.compress": "false"}}]


def expected_summary() -> dict[str, dict[str, int]]:
    """The app's summary computed here from the CSV, without Spark."""
    summary: dict[str, dict[str, int]] = defaultdict(lambda: {"n": 0, "rings": 0, "length": 0})
    with DATA.open() as fh:
        for row in csv.DictReader(fh):
            s = summary[row["sex"]]
            s["n"] += 1
            s["rings"] += int(row["rings"])
            s["length"] += round(float(row["length"]) * 10000)
    return dict(summary)


def write_inputs(root: Path) -> dict[str, Path]:
    """The code, data and conf folders of a job, as a user would have them."""
    folders = {name: root / name for name in ("code", "data", "conf")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    (folders["code"] / "app.py").write_text(APP)
    (folders["data"] / "abalone.csv").write_bytes(DATA.read_bytes())
    (folders["conf"] / "configuration.json").write_text(json.dumps(CONFIGURATION))
    return folders


def spark_request(
    name: str,
    instances: int,
    inputs: dict[str, str],
    outputs: dict[str, str],
    *arguments: str,
    max_runtime: int = 600,
) -> dict[str, Any]:
    """A PySparkProcessor-shaped request running ``code/app.py``: ``inputs`` code/data/conf URIs,
    ``outputs`` name -> URI (``events``: the Continuous event logs, any other /opt/ml/processing/output/<name>)."""

    def channel(input_name: str) -> dict[str, Any]:
        return {
            "InputName": input_name,
            "S3Input": {"S3Uri": inputs[input_name], "LocalPath": f"/opt/ml/processing/input/{input_name}",
                        "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"},
        }  # fmt: skip

    def output(output_name: str, uri: str) -> dict[str, Any]:
        events = output_name == "events"
        local = "/opt/ml/processing/spark-events/" if events else f"/opt/ml/processing/output/{output_name}"
        mode = "Continuous" if events else "EndOfJob"
        return {
            "OutputName": output_name,
            "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": mode},
        }

    entrypoint = ["smspark-submit", "--local-spark-event-logs-dir", "/opt/ml/processing/spark-events/",
                  "/opt/ml/processing/input/code/app.py"]  # fmt: skip
    return {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": instances,
                "InstanceType": "ml.m5.xlarge",
                "VolumeSizeInGB": 30,
            }
        },
        "AppSpecification": {
            "ImageUri": SPARK_IMAGE,
            "ContainerEntrypoint": entrypoint,
            **({"ContainerArguments": list(arguments)} if arguments else {}),
        },
        "ProcessingInputs": [channel("code"), channel("data"), channel("conf")],
        "ProcessingOutputConfig": {"Outputs": [output(k, v) for k, v in outputs.items()]},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }


def executor_events(lines: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """From an event log: {executor id: its host (our SAGEMAKER_HOST attribute)}, {executor id: removal reason}."""
    added, removed = {}, {}
    for line in lines:
        event = json.loads(line)
        if event["Event"] == "SparkListenerExecutorAdded":
            added[event["Executor ID"]] = event["Executor Info"]["Attributes"].get("SAGEMAKER_HOST")
        elif event["Event"] == "SparkListenerExecutorRemoved":
            removed[event["Executor ID"]] = event["Removed Reason"]
    return added, removed


def wait_until(predicate: Any, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.2)


def _proc_text(pid: str, name: str) -> bytes:
    return (Path("/proc") / pid / name).read_bytes()


def job_processes(job_dir: Path) -> list[str]:
    """Live processes working for a job: their cwd is in its folder, or they carry its SM_PROCESSING_JOB_DIR."""
    tag = f"SM_PROCESSING_JOB_DIR={job_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if _proc_text(entry.name, "stat").rsplit(b")", 1)[1].split()[0] == b"Z":
                continue
            cwd = os.readlink(entry / "cwd")
            environ = _proc_text(entry.name, "environ").split(b"\0")
            command = _proc_text(entry.name, "cmdline").replace(b"\0", b" ")[:160].decode(errors="replace")
        except (OSError, IndexError):
            continue
        if cwd.startswith(f"{job_dir}/") or tag in environ:
            found.append(f"{entry.name} {command}")
    return found


def assert_no_process_left(job_dir: Path) -> None:
    """Every process of the job ends soon after its terminal state (the kernel reaps PID namespaces)."""
    deadline = time.monotonic() + 20
    while (left := job_processes(job_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, left


def worker_jvm(job_dir: Path, host: str) -> int:
    """The pid of ``host``'s Spark worker JVM (its --work-dir is in the host's folder)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = _proc_text(entry.name, "cmdline").decode(errors="replace")
            except OSError:
                continue
            if WORKER_CLASS in command and f"{job_dir}/hosts/{host}/" in command:
                return int(entry.name)
    raise AssertionError(f"no Spark worker JVM for {host} of {job_dir}")
