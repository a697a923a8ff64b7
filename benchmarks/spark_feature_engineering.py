"""Benchmark: Spark feature engineering + split throughput vs the scikit-learn jobs, on generated rows.

Every engine reads the same generated CSV (benchmarks/datagen.py, seed 0) and runs its feature
engineering job then its split job (Parquet), as SageMaker would: the scikit-learn scripts as Python
processes, the PySpark scripts (and optionally the Scala jar) through ``spark-submit --master local[*]``.
Time is wall clock of both jobs, JVM start-up included; rows/s = rows / that time. Median of ``--runs``.

    .venv/bin/python benchmarks/spark_feature_engineering.py                       # 10M rows, 3 runs
    .venv/bin/python benchmarks/spark_feature_engineering.py --rows 1000000 --runs 1 --engines pyspark,scala,sklearn
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


def command(engine: str, job: str, master: str, driver_memory: str) -> list[str]:
    if engine == "sklearn":
        return [sys.executable, str(REPO / "processing_scripts" / "sklearn" / f"{job}.py")]
    cmd = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        master,
        "--driver-memory",
        driver_memory,
    ]
    cmd += ["--conf", "spark.driver.bindAddress=127.0.0.1", "--conf", "spark.driver.host=127.0.0.1"]
    cmd += ["--conf", "spark.ui.enabled=false"]
    if engine == "pyspark":
        jobs = REPO / "processing_scripts" / "pyspark"  # every job imports the shared module: --py-files
        return [*cmd, "--py-files", str(jobs / "abalone_jobs_common.py"), str(jobs / f"{job}.py")]
    return [*cmd, "--class", SCALA_CLASSES[job], str(JAR)]


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
            *command(engine, job, args.master, args.driver_memory),
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
    p.add_argument("--engines", default="pyspark,sklearn", help="comma list of pyspark, scala, sklearn")
    p.add_argument("--master", default="local[*]")
    p.add_argument("--driver-memory", default="4g")
    p.add_argument(
        "--workdir", type=Path, default=None, help="default: a temporary folder, removed at the end"
    )
    args = p.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - {"pyspark", "scala", "sklearn"}
    if unknown:
        p.error(f"--engines: unknown {sorted(unknown)}; expected pyspark, scala, sklearn")
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
        for i in range(args.runs):
            for engine in engines:  # interleaved, so a busy moment of the machine hits every engine
                seconds = run_once(engine, data, workdir / f"run-{engine}", args)
                times[engine].append(seconds)
                print(f"run {i + 1}/{args.runs} {engine}: {seconds:.1f} s", flush=True)
        print(f"\nMachine: {machine()}\n")
        print(
            f"Feature engineering + split, {args.rows:,} rows (CSV in, Parquet out), median of {args.runs} run(s):\n"
        )
        print("| engine | median s | min s | max s | rows/s (median) |")
        print("|---|---:|---:|---:|---:|")
        for engine, ts in times.items():
            med = statistics.median(ts)
            print(f"| {engine} | {med:.1f} | {min(ts):.1f} | {max(ts):.1f} | {args.rows / med:,.0f} |")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
