"""Helpers for the Spark job tests: run a job of an engine as SageMaker would (spark-submit, local[2])."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PYSPARK_JOBS = REPO / "processing_scripts" / "pyspark"
PYSPARK_COMMON = PYSPARK_JOBS / "abalone_jobs_common.py"  # imported by every PySpark job: --py-files
SKLEARN_JOBS = REPO / "processing_scripts" / "sklearn"
JAR = REPO / "scala_jobs" / "target" / "abalone-jobs.jar"
ABALONE = REPO / "data" / "abalone.csv"
# Two shared cores: a small master, two shuffle partitions, no UI, the driver on loopback.
SPARK_CONF = {
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
}
SCALA_CLASSES = {
    "feature_engineering": "abalone.FeatureEngineering",
    "split": "abalone.Split",
    "validate": "abalone.Validate",
}


def spark_env() -> dict[str, str]:
    import pyspark

    env = dict(os.environ)
    env.update(
        SPARK_HOME=os.path.dirname(pyspark.__file__),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def run_job(engine: str, job: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run one job of one engine (sklearn: python; pyspark/scala: spark-submit local[2]) from ``cwd``."""
    if engine == "sklearn":
        cmd = [sys.executable, str(SKLEARN_JOBS / f"{job}.py")]
    else:
        cmd = [str(VENV_BIN / "spark-submit"), "--master", "local[2]"]
        for key, value in SPARK_CONF.items():
            cmd += ["--conf", f"{key}={value}"]
        cmd += (
            ["--py-files", str(PYSPARK_COMMON), str(PYSPARK_JOBS / f"{job}.py")]
            if engine == "pyspark"
            else ["--class", SCALA_CLASSES[job], str(JAR)]
        )
    cwd.mkdir(parents=True, exist_ok=True)  # Spark may write spark-warehouse/ here: never the repo
    return subprocess.run(
        [*cmd, *args], cwd=cwd, env=spark_env(), capture_output=True, text=True, timeout=420, check=False
    )


def run_in_session(spark, engine: str, job: str, args: list[str]) -> int:
    """Run one job of one engine in this process's shared Spark JVM (``spark``); returns its exit code.

    pyspark: the job module's ``main(args)``; scala: the job object's ``exec(args)`` (its ``main`` is
    ``sys.exit(exec(args))``); the jar is on the session's classpath. The jobs leave a session they did
    not start running. sklearn has no JVM: a Python process, as ``run_job``.
    """
    if engine == "sklearn":
        return run_job(engine, job, args, Path(args[args.index("--message-file") + 1]).parent).returncode
    if engine == "pyspark":
        return _pyspark_module(job).main(args)
    gateway = spark.sparkContext._gateway
    jargs = gateway.new_array(gateway.jvm.java.lang.String, len(args))
    for i, arg in enumerate(args):
        jargs[i] = arg
    return getattr(gateway.jvm, SCALA_CLASSES[job]).exec(jargs)


def run_chain(spark, engine: str, data: Path, work: Path, *fe_args: str) -> None:
    """Feature engineering + split (Parquet) of ``data`` by ``engine`` into ``work``, in the shared JVM."""
    assert run_in_session(spark, engine, "feature_engineering", [
        "--input", str(data), "--output", str(work / "features"), "--transform-output", str(work / "transform"),
        "--message-file", str(work / "message"), *fe_args,
    ]) == 0, (work / "message").read_text() if (work / "message").exists() else engine  # fmt: skip
    assert run_in_session(spark, engine, "split", [
        "--input", str(work / "features"), "--train-output", str(work / "out" / "train"),
        "--validation-output", str(work / "out" / "validation"), "--test-output", str(work / "out" / "test"),
        "--message-file", str(work / "message"),
    ]) == 0, engine  # fmt: skip


def _pyspark_module(job: str):
    """A PySpark job's module, imported by path under its own name (the sklearn jobs share the names)."""
    name = f"pyspark_job_{job}"
    if name not in sys.modules:
        if str(PYSPARK_JOBS) not in sys.path:
            sys.path.insert(0, str(PYSPARK_JOBS))  # `import abalone_jobs_common`, as --py-files provides
        spec = importlib.util.spec_from_file_location(name, PYSPARK_JOBS / f"{job}.py")
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, (
        f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )
    return result


# Edge rows: unknown, lower-case and missing sex; missing numerics (some land in train: the per-column
# fit); a missing label; an exact duplicate (same hash, same split); values at q()'s rounding edge.
EDGE_ROWS = """\
X,0.455,0.365,0.095,0.514,0.2245,0.101,0.15,15
m,0.35,0.265,0.09,0.2255,0.0995,0.0485,0.07,7
,0.53,0.42,0.135,0.677,0.2565,0.1415,0.21,9
M,0.44,0.365,0.125,,0.2155,0.114,0.155,10
F,0.33,,0.08,0.205,0.0895,0.0395,0.055,7
I,0.425,0.3,0.095,0.3515,0.141,0.0775,,8
F,0.53,0.415,0.15,0.7775,0.237,0.1415,0.33,
M,0.49,0.38,0.135,,0.2155,0.114,0.155,11
I,0.2,0.15,0.05,0.0285,,0.0055,0.01,5
F,0.6,0.47,0.165,1.1,0.45,0.2455,,12
M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15,15
M,0.12345,0.00005,0.00015,0.99995,0.1,0.2,0.3,3
"""
