"""Fixtures for the Spark job tests: the Scala jar (built once), the edge data and each engine's run on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from spark_jobs_helpers import ABALONE, EDGE_ROWS, JAR, REPO, ok, run_job


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


@pytest.fixture(scope="session")
def edge_runs(edge_data: Path, scala_jar: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Feature engineering + split (Parquet) of the edge data in each engine: engine -> its work folder."""
    runs = {}
    for engine in ("sklearn", "pyspark", "scala"):
        work = tmp_path_factory.mktemp(f"edge-{engine}")
        ok(run_job(engine, "feature_engineering", [
            "--input", str(edge_data), "--output", str(work / "features"),
            "--transform-output", str(work / "transform"), "--message-file", str(work / "message"),
        ], work))  # fmt: skip
        ok(run_job(engine, "split", [
            "--input", str(work / "features"), "--train-output", str(work / "out" / "train"),
            "--validation-output", str(work / "out" / "validation"), "--test-output", str(work / "out" / "test"),
            "--message-file", str(work / "message"),
        ], work))  # fmt: skip
        runs[engine] = work
    return runs
