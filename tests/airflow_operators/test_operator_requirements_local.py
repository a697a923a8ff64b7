"""``source_dir`` + ``requirements.txt`` on the local backend: real jobs, a real package from PyPI.

``cowsay`` (pure Python, pinned) is not in the project's environment: the job can import it only if
the requirements were installed, and the project's environment must stay without it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from airflow_operators_support import context, sklearn_operator
from sagemaker_processing_provider.errors import ProcessingJobFailed
from sagemaker_processing_provider.local.backend import LocalProcessingBackend

JOB = """
import json, pathlib, sys
import cowsay, tabulate  # cowsay from requirements.txt; tabulate is already in the project's environment
import helpers  # a module of source_dir
out = pathlib.Path("/opt/ml/processing/output/result")
out.mkdir(parents=True, exist_ok=True)
result = {"cowsay": cowsay.__file__, "tabulate": tabulate.__file__, "helper": helpers.VALUE, "args": sys.argv[1:]}
(out / "result.json").write_text(json.dumps(result))
print(cowsay.get_output_string("cow", "installed"))
"""


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "job.py").write_text(JOB)
    (src / "helpers.py").write_text("VALUE = 'from source_dir'\n")
    (src / "requirements.txt").write_text("cowsay==6.1\ntabulate>=0.8\n")
    return src


def _run(job_files, source_dir: Path, run: str, **overrides):
    operator = sklearn_operator(
        job_files, code="job.py", source_dir=str(source_dir), arguments=["a b", "c"], inputs=None, **overrides
    )
    return operator.execute(context(run_id=run))


def _log(home: Path, name: str) -> str:
    return "\n".join(LocalProcessingBackend(home).get_log_events(ProcessingJobName=name)["events"])


def test_requirements_install_once_into_a_layered_cached_environment(job_home, job_files, source_dir) -> None:
    first = _run(job_files, source_dir, "run-1")
    assert first["status"] == "Completed"
    result = json.loads((job_files["out"] / "result.json").read_text())
    overlay = Path(result["cowsay"]).parent.parent
    assert overlay.parent == job_home.resolve() / "pyenvs"
    assert result["helper"] == "from source_dir" and result["args"] == ["a b", "c"]
    assert not result["tabulate"].startswith(str(overlay))  # the project's own: not reinstalled
    assert [p.name for p in overlay.glob("*.dist-info")] == ["cowsay-6.1.dist-info"]
    assert "Requirements: installed cowsay==6.1" in _log(job_home, first["job_name"])

    second = _run(job_files, source_dir, "run-2")
    assert json.loads((job_files["out"] / "result.json").read_text())["cowsay"] == result["cowsay"]
    assert f"cached environment {overlay.name} reused" in _log(job_home, second["job_name"])
    assert importlib.util.find_spec("cowsay") is None  # the project's environment is untouched


def test_bad_requirement_fails_the_job_with_the_installers_message(job_home, job_files, source_dir) -> None:
    (source_dir / "requirements.txt").write_text("no-such-package-sm-processing-test==1.0\n")
    with pytest.raises(ProcessingJobFailed) as info:
        _run(job_files, source_dir, "run-bad")
    assert info.value.status == "Failed"
    message = info.value.exit_message
    assert message.startswith("requirements.txt could not be installed: ")
    assert "no-such-package-sm-processing-test" in message and "ExitMessage" in str(info.value)
    described = LocalProcessingBackend(job_home).describe_processing_job(
        ProcessingJobName=info.value.job_name
    )
    assert described["ExitMessage"].strip() == message.strip()
    assert not any((job_home / "pyenvs").glob(".tmp-*"))  # nothing half-built is left
