"""What the local backend adds to a Spark job over a bare ``spark-submit`` of the same app (goal <= 10%).

    .venv/bin/python benchmarks/spark_backend_overhead.py [--runs 5] [--rows 200000] [--master local[2]]

Both sides run the same small PySpark app (read a CSV, group, aggregate, write Parquet) with the same
master. Bare: ``<pyspark>/bin/spark-submit --master M --conf spark.ui.enabled=false app.py IN OUT``
in a fresh cwd (the UI off, as smspark-submit has it, so the difference is the backend's machinery).
Backend: a CreateProcessingJob request with the Spark processing image and ``ContainerEntrypoint
["smspark-submit", "/opt/ml/processing/input/code/app.py"]``, timed from create to Completed (describe
polled every 20 ms): runner start, input staging, sandbox, the local smspark-submit, output upload.
Runs alternate bare/backend so that load drift on a shared machine hits both sides alike; the table
gives medians (and min/max) of ``--runs`` runs each.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from sagemaker_processing_provider.local.backend import LocalProcessingBackend
from sagemaker_processing_provider.local.smspark_options import MASTER_ENV, find_spark_home

IMAGE = "173754725891.dkr.ecr.us-east-1.amazonaws.com/sagemaker-spark-processing:3.5-cpu"
APP = """
import sys
from pyspark.sql import SparkSession, functions as F

spark = SparkSession.builder.appName("spark-overhead-bench").getOrCreate()
df = spark.read.csv(sys.argv[1], header=True, inferSchema=True)
out = df.groupBy("sex").agg(F.count("*").alias("n"), F.avg("length").alias("length"), F.max("rings"))
out.write.mode("overwrite").parquet(sys.argv[2])
spark.stop()
"""


def make_data(folder: Path, rows: int) -> None:
    rng = random.Random(42)
    folder.mkdir(parents=True)
    lines = ["sex,length,diameter,rings"]
    lines += [
        f"{rng.choice('MFI')},{rng.random():.4f},{rng.random():.4f},{rng.randint(1, 29)}" for _ in range(rows)
    ]
    (folder / "data.csv").write_text("\n".join(lines) + "\n")


def request(name: str, code: Path, data: Path, out: Path) -> dict:
    def s3_input(input_name: str, source: Path, local: str) -> dict:
        return {
            "InputName": input_name,
            "S3Input": {"S3Uri": f"file://{source}", "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File"},
        }  # fmt: skip

    return {
        "ProcessingJobName": name,
        "RoleArn": "arn:aws:iam::000000000000:role/SageMakerRole",
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}
        },
        "AppSpecification": {
            "ImageUri": IMAGE,
            "ContainerEntrypoint": ["smspark-submit", "/opt/ml/processing/input/code/app.py"],
            "ContainerArguments": ["/opt/ml/processing/input/data", "/opt/ml/processing/output/summary"],
        },
        "ProcessingInputs": [
            s3_input("code", code, "/opt/ml/processing/input/code"),
            s3_input("data", data, "/opt/ml/processing/input/data"),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "summary",
                    "S3Output": {
                        "S3Uri": f"file://{out}",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }  # fmt: skip
            ]
        },
    }


def workspace(root: Path, app: str, rows: int) -> tuple[Path, Path, LocalProcessingBackend]:
    """The app in ``root/code``, generated data in ``root/data``, a job store in ``root/store``."""
    code, data = root / "code", root / "data"
    code.mkdir()
    (code / "app.py").write_text(app)
    make_data(data, rows)
    return code, data, LocalProcessingBackend(root / "store")


def run_backend(backend: LocalProcessingBackend, req: dict) -> float:
    start = time.perf_counter()
    backend.create_processing_job(**req)
    while True:
        job = backend.describe_processing_job(ProcessingJobName=req["ProcessingJobName"])
        if job["ProcessingJobStatus"] not in ("InProgress", "Stopping"):
            break
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    if job["ProcessingJobStatus"] != "Completed":
        raise SystemExit(
            f"job {req['ProcessingJobName']} ended {job['ProcessingJobStatus']}: {job.get('FailureReason')}"
        )
    return elapsed


def run_bare(spark_submit: Path, master: str, app: Path, data: Path, work: Path) -> float:
    work.mkdir(parents=True)
    # The UI off as smspark-submit sets it: the difference left is the backend's own machinery.
    cmd = [str(spark_submit), "--master", master, "--conf", "spark.ui.enabled=false", str(app), str(data)]
    cmd.append(str(work / "summary"))
    start = time.perf_counter()
    subprocess.run(cmd, cwd=work, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        names = [
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--master", default="local[*]")
    args = parser.parse_args()
    os.environ[MASTER_ENV] = args.master  # the backend's smspark-submit uses the same master as bare
    spark_submit = find_spark_home() / "bin" / "spark-submit"
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        code, data, backend = workspace(root, APP, args.rows)
        bare_times, backend_times = [], []
        for i in range(args.runs):
            bare_times.append(run_bare(spark_submit, args.master, code / "app.py", data, root / f"bare-{i}"))
            req = request(f"spark-bench-{os.getpid()}-{i}", code, data, root / f"out-{i}")
            backend_times.append(run_backend(backend, req))
    load_after = os.getloadavg()[0]
    bare_med, backend_med = statistics.median(bare_times), statistics.median(backend_times)
    overhead = backend_med - bare_med
    print(
        f"machine: {machine()}, Python {platform.python_version()}, pyspark at {spark_submit.parent.parent}"
    )
    print(
        f"load average {load_before:.1f} before, {load_after:.1f} after: the machine is shared with other "
        "jobs, so absolute times vary; bare and backend runs alternate to share the noise"
    )
    print(
        f"app: read CSV ({args.rows} rows), group + aggregate, write Parquet; master {args.master}; runs {args.runs}\n"
    )
    print("| path | median (s) | min (s) | max (s) |")
    print("|---|---:|---:|---:|")
    for label, times in (
        ("bare spark-submit", bare_times),
        ("local backend (create -> Completed)", backend_times),
    ):
        print(f"| {label} | {statistics.median(times):.2f} | {min(times):.2f} | {max(times):.2f} |")
    print(f"\noverhead: {overhead:+.2f} s = {100 * overhead / bare_med:+.1f}% of bare (goal <= 10%)")


if __name__ == "__main__":
    main()
