"""Benchmark: Spark feature engineering + split throughput vs the scikit-learn jobs, on generated rows.

Every engine reads the same generated CSV (benchmarks/datagen.py, seed 0) and runs its feature
engineering job then its split job (Parquet), as SageMaker would: the scikit-learn scripts as Python
processes, the PySpark scripts and the Scala jar through ``spark-submit --master local[*]``.
Time is wall clock of both jobs, JVM start-up included; rows/s = rows / that time. Median of ``--runs``;
engines run interleaved and each is printed as a ratio to the scikit-learn job.
An engine may name another version: ``pyspark=DIR`` (a folder with the four PySpark job files) or
``scala=JAR``, e.g. from ``git show <rev>:...``, to compare before and after in one run.

Profile (Spark event logs, ``--event-log DIR``; 1M and 10M rows, local[*] on 2 cores): the PySpark
jobs took 9.2x the scikit-learn job. Feature engineering read the CSV twice (a pass to find unparsable
values, then the cached pass) as strings and cast them; then counted splits, counted train values,
fitted a Spark ML Pipeline (VectorAssembler + StandardScaler: a treeAggregate over vectors) and
transformed through vectors and ``vector_to_array``. The split job scanned the table for bad split
values, cached it, wrote three filtered copies and counted each split again: four passes plus three
counts. Now, in feature engineering: one typed CSV pass (explicit schema, corrupt-record column), one
aggregation for counts and statistics, one projection of column expressions; Scala runs the same
plan without the Python driver. Event logs of the PySpark feature engineering alone, 10M rows, back to back at load 3: before 68 s (11 Spark jobs;
the cached pass 16 s, the vector transform + write 20 s), after 50 s (4 jobs: scan + cache +
aggregation 19 + 5 s, write 9 s); ~10 s of either is JVM and session start before the first job.
What remains is Spark's CSV parse and row-by-row Parquet writer on two cores, and two JVM starts.
Tried and reverted: the split job as one write partitioned by the split (counts observed during it):
FE + split measured 1.3-1.7x slower than before in three interleaved 10M rounds at load 3-13.

    .venv/bin/python benchmarks/spark_feature_engineering.py                       # 10M rows, 3 runs
    .venv/bin/python benchmarks/spark_feature_engineering.py --rows 1000000 --runs 1 --engines sklearn,pyspark,scala
    .venv/bin/python benchmarks/spark_feature_engineering.py --engines sklearn,pyspark,pyspark=/tmp/old_pyspark
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
JAR = REPO / "scala_jobs" / "target" / "abalone-jobs.jar"
SCALA_CLASSES = {"feature_engineering": "abalone.FeatureEngineering", "split": "abalone.Split"}


def load_datagen():
    """benchmarks/ is not a package: import the generator by path."""
    spec = importlib.util.spec_from_file_location("abalone_datagen", HERE / "datagen.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def spark_env() -> dict[str, str]:
    import pyspark

    env = dict(os.environ)
    env.update(
        SPARK_HOME=os.path.dirname(pyspark.__file__),
        PYSPARK_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def command(engine: str, job: str, args: argparse.Namespace) -> list[str]:
    """The command of one job; ``engine`` is sklearn, pyspark, scala, pyspark=DIR or scala=JAR."""
    kind, _, where = engine.partition("=")
    if kind == "sklearn":
        return [sys.executable, str(REPO / "processing_scripts" / "sklearn" / f"{job}.py")]
    cmd = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        args.master,
        "--driver-memory",
        args.driver_memory,
    ]
    cmd += ["--conf", "spark.driver.bindAddress=127.0.0.1", "--conf", "spark.driver.host=127.0.0.1"]
    cmd += ["--conf", "spark.ui.enabled=false"]
    if args.event_log:
        args.event_log.mkdir(parents=True, exist_ok=True)
        cmd += [
            "--conf",
            "spark.eventLog.enabled=true",
            "--conf",
            f"spark.eventLog.dir=file://{args.event_log}",
        ]
    if kind == "pyspark":
        jobs = (
            Path(where) if where else REPO / "processing_scripts" / "pyspark"
        )  # the shared module: --py-files
        return [*cmd, "--py-files", str(jobs / "abalone_jobs_common.py"), str(jobs / f"{job}.py")]
    return [*cmd, "--class", SCALA_CLASSES[job], where or str(JAR)]


def run_once(engine: str, data: Path, work: Path, args: argparse.Namespace) -> float:
    """Feature engineering + split of one engine, in a fresh folder; returns the wall-clock seconds."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    jobs = {
        "feature_engineering": ["--input", str(data), "--output", str(work / "features"),
                                "--transform-output", str(work / "transform")],
        "split": ["--input", str(work / "features"), "--output", str(work / "out")],
    }  # fmt: skip
    start = time.perf_counter()
    for job, job_args in jobs.items():
        cmd = [
            *command(engine, job, args),
            *job_args,
            "--message-file",
            str(work / "msg"),
        ]
        result = subprocess.run(cmd, cwd=work, env=spark_env(), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{engine} {job} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def machine() -> str:
    cpuinfo, meminfo = Path("/proc/cpuinfo").read_text(), Path("/proc/meminfo").read_text()
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")), "?"
    )
    mem = next((int(ln.split()[1]) // 1024**2 for ln in meminfo.splitlines() if ln.startswith("MemTotal")), 0)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} vCPU ({cpu}), {mem} GB RAM, {java}, load avg {load}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--engines",
        default="sklearn,pyspark,scala",
        help="comma list of sklearn, pyspark, scala, pyspark=DIR, scala=JAR",
    )
    p.add_argument("--event-log", type=Path, default=None, help="write Spark event logs here")
    p.add_argument("--master", default="local[*]")
    p.add_argument("--driver-memory", default="4g")
    p.add_argument(
        "--workdir", type=Path, default=None, help="default: a temporary folder, removed at the end"
    )
    args = p.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = {e for e in engines if e.partition("=")[0] not in {"pyspark", "scala", "sklearn"}}
    if unknown:
        p.error(f"--engines: unknown {sorted(unknown)}; expected pyspark, scala, sklearn")
    if "sklearn" not in engines:
        p.error("--engines: sklearn is the reference of the ratios; include it")
    if "scala" in engines:
        subprocess.run(["bash", str(REPO / "scala_jobs" / "build.sh"), sys.executable], check=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="spark-bench-"))
    try:
        data = workdir / f"abalone_{args.rows}.csv"
        if not data.exists():
            t = time.perf_counter()
            load_datagen().generate(args.rows, data, seed=0, fmt="csv")
            print(
                f"generated {args.rows:,} rows ({data.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t:.1f} s"
            )
        times: dict[str, list[float]] = {e: [] for e in engines}
        print("load avg before: " + ", ".join(f"{v:.1f}" for v in os.getloadavg()), flush=True)
        for i in range(args.runs):
            for engine in engines:  # interleaved, so a busy moment of the machine hits every engine
                seconds = run_once(engine, data, workdir / f"run-{engine}", args)
                times[engine].append(seconds)
                print(f"run {i + 1}/{args.runs} {engine}: {seconds:.1f} s", flush=True)
        print(f"\nMachine: {machine()}\n")
        print(
            f"Feature engineering + split, {args.rows:,} rows (CSV in, Parquet out), median of {args.runs} run(s):\n"
        )
        print("| engine | median s | min s | max s | rows/s (median) | vs sklearn |")
        print("|---|---:|---:|---:|---:|---:|")
        ref = statistics.median(times["sklearn"])
        for engine, ts in times.items():
            med = statistics.median(ts)
            print(
                f"| {engine} | {med:.1f} | {min(ts):.1f} | {max(ts):.1f} | {args.rows / med:,.0f} | {med / ref:.2f}x |"
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
