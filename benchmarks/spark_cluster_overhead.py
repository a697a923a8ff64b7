"""What a local Spark cluster costs: the same PySpark job with ``InstanceCount`` 1 (``local[*]``) and N.

    .venv/bin/python benchmarks/spark_cluster_overhead.py [--runs 5] [--rows 200000] [--counts 1,2]

Each variant is the same CreateProcessingJob (Spark image, ``smspark-submit`` app reading a CSV,
aggregating it and writing the result from the driver) through the local backend, timed from create to
Completed. Variants alternate run by run so that load drift hits them alike; the table gives medians
(and min/max). For N > 1 it also reads the job log's timestamps: from the primary's "starting a Spark
standalone cluster" to "Spark cluster ready" (master up, every worker registered; the driver starts
meanwhile). The results of every run must be equal, else the benchmark fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
from datetime import datetime
from pathlib import Path

from sagemaker_processing_provider.local.smspark_options import MASTER_ENV
from spark_backend_overhead import machine, request, run_backend, workspace

APP = """
import json, os, sys
from pyspark.sql import SparkSession, functions as F

spark = SparkSession.builder.appName("spark-cluster-bench").getOrCreate()
df = spark.read.csv(sys.argv[1], header=True, inferSchema=True).repartition(8)
rows = df.groupBy("sex").agg(F.count("*").alias("n"), F.sum("rings").alias("rings")).orderBy("sex").collect()
os.makedirs(sys.argv[2], exist_ok=True)
with open(os.path.join(sys.argv[2], "result.json"), "w") as f:
    json.dump([r.asDict() for r in rows], f)
spark.stop()
"""
_STAMP = r"\[algo-1\] (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO smspark-submit: "


def cluster_start_seconds(log: str) -> float | None:
    """From the primary's first cluster line to "Spark cluster ready", by the log's own timestamps."""
    start = re.search(_STAMP + "starting a Spark standalone cluster", log)
    ready = re.search(_STAMP + "Spark cluster ready", log)
    if not (start and ready):
        return None
    parse = lambda m: datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")  # noqa: E731
    return (parse(ready) - parse(start)).total_seconds()


def row(label: str, times: list[float]) -> str:
    return f"| {label} | {statistics.median(times):.1f} s | {min(times):.1f}-{max(times):.1f} s |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument(
        "--counts", default="1,2", help="instance counts to compare, the first is the baseline"
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    os.environ.pop(MASTER_ENV, None)  # a local cluster for N > 1, local[*] for 1
    load_before = os.getloadavg()[0]
    times: dict[int, list[float]] = {n: [] for n in counts}
    starts: dict[int, list[float]] = {n: [] for n in counts}
    results = set()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        code, data, backend = workspace(root, APP, args.rows)
        for i in range(args.runs):
            for n in counts:
                name = f"cluster-bench-{os.getpid()}-{i}-{n}"
                req = request(name, code, data, root / name)
                req["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = n
                times[n].append(run_backend(backend, req))
                results.add((root / name / "summary" / "result.json").read_text())
                log = "\n".join(backend.get_log_events(ProcessingJobName=name, StartFromOffset=0)["events"])
                if (seconds := cluster_start_seconds(log)) is not None:
                    starts[n].append(seconds)
    if len(results) != 1:
        raise SystemExit(f"the variants disagree: {results}")
    base = statistics.median(times[counts[0]])
    print(f"Machine: {machine()}; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"Job: {args.rows} rows CSV, group + aggregate, result {json.loads(results.pop())}\n")
    print("| variant | create -> Completed (median) | min-max | vs InstanceCount " + f"{counts[0]} |")
    print("|---|---|---|---|")
    for n in counts:
        med = statistics.median(times[n])
        label = f"InstanceCount {n} ({'local[*]' if n == 1 else f'master + {n} workers'})"
        print(f"{row(label, times[n])} {med - base:+.1f} s ({med / base:.2f}x) |")
        if starts[n]:
            label = (
                f"... its cluster's start (master up, {n} workers registered; the driver starts meanwhile)"
            )
            print(f"{row(label, starts[n])} |")


if __name__ == "__main__":
    main()
