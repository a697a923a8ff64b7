"""Fixtures for the operator tests: a private local job store and an ``aws_default`` connection on it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

JOB_SCRIPT = """
import json, os, pathlib, sys, time

mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
print("job starting, mode", mode, flush=True)
data = pathlib.Path("/opt/ml/processing/input/data")
rows = sum(1 for f in sorted(data.rglob("*")) if f.is_file() for _ in f.open()) if data.exists() else 0
if mode == "wait":  # until the test releases it (or about two minutes)
    release = pathlib.Path(os.environ["RELEASE_FILE"])
    for _ in range(1200):
        if release.exists():
            break
        time.sleep(0.1)
if mode == "fail":
    pathlib.Path("/opt/ml/output/message").write_text("3 rows have a null rings value")
    print("check failed", flush=True)
    sys.exit(3)
out = pathlib.Path("/opt/ml/processing/output/result")
out.mkdir(parents=True, exist_ok=True)
(out / "result.json").write_text(json.dumps({"rows": rows}))
print("job done, rows", rows, flush=True)
"""


@pytest.fixture
def job_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private job store, selected the documented way: the connection's ``processing_backend``."""
    home = tmp_path / "store"
    monkeypatch.setenv("SM_PROCESSING_HOME", str(home))
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "extra": {"processing_backend": "local"}})
    )
    return home


@pytest.fixture
def job_files(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """The job script, a small CSV input and a release file path for jobs that wait."""
    script = tmp_path / "code" / "job.py"
    script.parent.mkdir()
    script.write_text(JOB_SCRIPT)
    data = tmp_path / "data"
    data.mkdir()
    (data / "part.csv").write_text("a,b\n1,2\n3,4\n")
    files = {"script": script, "data": data, "release": tmp_path / "release", "out": tmp_path / "out"}
    yield files
    files["release"].touch()  # let any job still waiting end on its own
