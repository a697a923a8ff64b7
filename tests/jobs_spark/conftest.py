"""Fixtures for the Spark job tests: the Scala jar (built once), the edge data and each engine's run on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from spark_jobs_helpers import ABALONE, EDGE_ROWS, JAR, REPO, SPARK_CONF, run_chain


@pytest.fixture(scope="session")
def scala_jar() -> Path:
    """Builds the jar with scala_jobs/build.sh (a no-op when it is newer than every source)."""
    result = subprocess.run(
        ["bash", str(REPO / "scala_jobs" / "build.sh"), sys.executable],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return JAR


@pytest.fixture(scope="session")
def edge_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("edge") / "abalone_edge.csv"
    path.write_text(ABALONE.read_text().rstrip("\n") + "\n" + EDGE_ROWS)
    return path


def _end_earlier_jvm() -> None:
    """py4j sees the classes of the JVM's start-up classpath only, so the jar must be there when the JVM
    starts: a JVM another test started in this process (e.g. tests/jobs_sklearn's split-rule check)
    would answer ``JavaPackage`` for the Scala jobs. End it; the session below starts a new one."""
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    gateway.shutdown()
    proc = getattr(gateway, "proc", None)
    if proc is not None:
        proc.kill()
        proc.wait()
    SparkContext._gateway = None
    SparkContext._jvm = None


@pytest.fixture(scope="session")
def spark(scala_jar: Path):
    """One Spark JVM (local[2], the jobs' test configuration) for every test that runs jobs in process.

    A spark-submit per job costs a JVM start (~5-10 s on two busy cores); the end-to-end tests still go
    through spark-submit (test_pipeline_on_abalone, test_bad_input_names_the_column), the others run the
    same jobs here: the PySpark jobs' ``main``, the Scala jobs' ``exec`` from the jar on the classpath.
    """
    from pyspark.sql import SparkSession

    _end_earlier_jvm()
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("jobs-spark-tests")
        .config("spark.jars", str(scala_jar))
    )
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    yield session
    session.stop()


@pytest.fixture(scope="session")
def edge_runs(edge_data: Path, spark, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Feature engineering + split (Parquet) of the edge data in each engine: engine -> its work folder."""
    runs = {}
    for engine in ("sklearn", "pyspark", "scala"):
        runs[engine] = tmp_path_factory.mktemp(f"edge-{engine}")
        run_chain(spark, engine, edge_data, runs[engine])
    return runs
