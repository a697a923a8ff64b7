"""``sm-processing`` end to end, as a user types it: a plain CreateProcessingJob JSON, file:// data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from local_backend_support import make_request

SM = [sys.executable, "-m", "sagemaker_processing_provider.local.cli"]

# Written for the real container: fixed paths, config files, nothing about the local backend.
SCRIPT = """
import csv, json, os
rc = json.load(open("/opt/ml/config/resourceconfig.json"))
with open("/opt/ml/processing/input/data/abalone.csv") as fh:
    rows = list(csv.DictReader(fh))
os.makedirs("/opt/ml/processing/output/summary", exist_ok=True)
with open("/opt/ml/processing/output/summary/summary.json", "w") as fh:
    json.dump({"rows": len(rows), "host": rc["current_host"], "mode": os.environ["MODE"]}, fh)
print("processed", len(rows), "rows on", rc["current_host"])
"""


def _sm(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SM, "--home", str(home), *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def _request(tmp_path: Path, name: str, code: Path, out: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "abalone.csv").write_text("sex,length,rings\nM,0.455,15\nF,0.53,9\nI,0.33,7\n")
    request = make_request(
        name,
        code,
        ProcessingInputs=[
            {
                "InputName": "data",
                "S3Input": {
                    "S3Uri": f"file://{data}",
                    "LocalPath": "/opt/ml/processing/input/data",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "summary",
                    "S3Output": {
                        "S3Uri": f"file://{out}",
                        "LocalPath": "/opt/ml/processing/output/summary",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        Environment={"MODE": "cli"},
    )
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(request))
    return path


def test_run_streams_log_and_publishes_output(tmp_path, home):
    code = tmp_path / "summarise.py"
    code.write_text(SCRIPT)
    out = tmp_path / "out"
    result = _sm(home, "run", str(_request(tmp_path, "cli-run", code, out)))
    assert result.returncode == 0, result.stderr
    assert "processed 3 rows on algo-1" in result.stdout
    assert "cli-run: Completed" in result.stderr
    assert json.loads((out / "summary.json").read_text()) == {"rows": 3, "host": "algo-1", "mode": "cli"}

    described = json.loads(_sm(home, "describe", "cli-run").stdout)
    assert described["ProcessingJobStatus"] == "Completed" and "T" in described["CreationTime"]
    listed = json.loads(_sm(home, "list", "--status", "Completed", "--name-contains", "cli").stdout)
    assert [j["ProcessingJobName"] for j in listed["ProcessingJobSummaries"]] == ["cli-run"]
    assert "processed 3 rows" in _sm(home, "logs", "cli-run").stdout


def test_run_of_a_failing_job_exits_nonzero_and_publishes_nothing(tmp_path, home):
    code = tmp_path / "fail.py"
    code.write_text(
        "import os\nos.makedirs('/opt/ml/processing/output/summary', exist_ok=True)\n"
        "open('/opt/ml/processing/output/summary/partial.json','w').write('{}')\n"
        "open('/opt/ml/output/message','w').write('bad input')\nraise SystemExit(2)\n"
    )
    out = tmp_path / "out"
    result = _sm(home, "run", str(_request(tmp_path, "cli-fail", code, out)))
    assert result.returncode == 1
    assert "FailureReason: AlgorithmError" in result.stderr and "ExitMessage: bad input" in result.stderr
    assert not out.exists()


def test_shared_sandbox_mode_runs_the_same_script(tmp_path, home):
    """The documented fallback (no namespaces): /opt/ml is lent to one host at a time."""
    if Path("/opt/ml").exists() and not Path("/opt/ml").is_symlink() and any(Path("/opt/ml").iterdir()):
        import pytest

        pytest.skip("/opt/ml holds files: the shared mode refuses to touch it")
    code = tmp_path / "summarise.py"
    code.write_text(SCRIPT)
    out = tmp_path / "out"
    env = {**os.environ, "SM_PROCESSING_SANDBOX": "shared"}
    result = _sm(home, "run", str(_request(tmp_path, "cli-shared", code, out)), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((out / "summary.json").read_text())["rows"] == 3
    assert not Path("/opt/ml").is_symlink()


def test_errors_are_one_line_exit_2(tmp_path, home):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(make_request("bad_name")))
    for args in (
        ("run", str(bad)),
        ("describe", "missing"),
        ("stop", "missing"),
        ("run", str(tmp_path / "no.json")),
    ):
        result = _sm(home, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("sm-processing: error:"), (
            result.stderr
        )
        assert "Traceback" not in result.stderr
