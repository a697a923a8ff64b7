"""End to end: ``example_requirements`` run twice through the real ``airflow dags test`` on the local backend.

The first run installs ``requirements.txt`` (``humanize`` from PyPI; ``tabulate`` comes from the
project's environment) and writes the profile; the second is a step-cache hit: no second job.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import local_airflow  # noqa: E402  (scripts/ is not a package)

pytestmark = pytest.mark.slow


def _jobs(sm_home: Path) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "sagemaker_processing_provider.local.cli", "--home", str(sm_home), "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        j["ProcessingJobName"]: j["ProcessingJobStatus"]
        for j in json.loads(done.stdout)["ProcessingJobSummaries"]
    }


def test_example_installs_its_requirements_then_hits_the_cache(
    tmp_path: Path, monkeypatch, with_migrated_db
) -> None:
    monkeypatch.setenv("SM_PROCESSING_HOME", str(tmp_path / "sm"))
    env = local_airflow.airflow_env(with_migrated_db(tmp_path / "airflow"))
    local_airflow.ensure_db(env)  # the copied database and its stamp: nothing to migrate
    out = tmp_path / "profile"
    conf = json.dumps({"output_uri": str(out)})
    for day in (1, 2):
        date = datetime(2026, 1, day, tzinfo=UTC).isoformat()
        done = local_airflow.airflow(
            ["dags", "test", "example_requirements", date, "--conf", conf], env, quiet=True
        )
        assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-4000:])
        if day == 1:
            first_log = done.stdout + done.stderr
            profile = (out / "profile.md").read_text()
            assert "4,177 rows, 9 columns" in profile and "| sex " in profile  # humanize + tabulate
            assert json.loads((out / "profile.json").read_text())["summary"]["rows"] == 4177
    assert "Requirements: installed humanize==4.12.3" in first_log
    assert "Step cache HIT" in done.stdout + done.stderr
    assert list(_jobs(tmp_path / "sm").values()) == ["Completed"]  # one job for two runs
