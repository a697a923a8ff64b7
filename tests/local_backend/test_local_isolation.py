"""Who a job runs as, and what it can reach: the identity rules of local/identity.py, for real."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_backend_support import make_request, unique, wait
from sagemaker_processing_provider.local import identity, sandbox
from sagemaker_processing_provider.local.backend import LocalProcessingBackend

NEEDS_ROOT_NAMESPACES = pytest.mark.skipif(
    os.geteuid() != 0 or sandbox.mode() != "namespace", reason="needs root and namespaces"
)

PROBE = """
import os
print("uid", os.getuid(), "gid", os.getgid(), "groups", os.getgroups())
for path in ("/etc/sm-processing-isolation-test", "/root/sm-processing-isolation-test"):
    try:
        open(path, "w").write("x")
        print("WROTE", path)
        os.unlink(path)
    except OSError as exc:
        print("refused", path, type(exc).__name__)
os.makedirs("/opt/ml/processing/output/result", exist_ok=True)
open("/opt/ml/processing/output/result/out.txt", "w").write("written by the job user")
"""


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder every user can reach (pytest's own tmp folders are closed to other users)."""
    folder = Path(tempfile.mkdtemp(prefix="sm-isolation-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@NEEDS_ROOT_NAMESPACES
def test_a_job_runs_as_an_unprivileged_user(open_folder, monkeypatch):
    """As root with SM_PROCESSING_JOB_USER (or when the runtime is reachable by uid 65534), a job runs
    without root's power: it cannot write /etc or /root; its outputs are still published."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None or not identity.reachable_by(Path(python), 65534, 65534, os.X_OK):
        pytest.skip("no system python3 that uid 65534 can run")
    monkeypatch.setenv(identity.JOB_USER_ENV, "65534")
    script = open_folder / "probe.py"
    script.write_text(PROBE)
    script.chmod(0o644)
    backend = LocalProcessingBackend(open_folder / "store")
    name = unique("nobody")
    request = make_request(
        name,
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "result",
                    "S3Output": {
                        "S3Uri": str(open_folder / "out"),
                        "LocalPath": "/opt/ml/processing/output/result",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
    )
    request["AppSpecification"]["ContainerEntrypoint"] = [python, str(script)]
    backend.create_processing_job(**request)
    job = wait(backend, name)
    lines = backend.get_log_events(ProcessingJobName=name)["events"]
    assert job["ProcessingJobStatus"] == "Completed", (job.get("FailureReason"), lines)
    assert "uid 65534 gid 65534 groups []" in lines
    assert "refused /etc/sm-processing-isolation-test PermissionError" in lines
    assert "refused /root/sm-processing-isolation-test PermissionError" in lines
    assert (open_folder / "out/out.txt").read_text() == "written by the job user"


def test_reachability_follows_every_folder_on_the_way(tmp_path):
    closed = tmp_path / "closed"
    (closed / "inner").mkdir(parents=True)
    (closed / "inner/tool").write_text("x")
    (closed / "inner/tool").chmod(0o755)
    closed.chmod(0o700)
    try:
        assert not identity.reachable_by(closed / "inner/tool", 65534, 65534, os.R_OK)
        closed.chmod(0o755)
        tmp_path.chmod(0o755)
        reachable = all(identity.reachable_by(p, 65534, 65534, os.X_OK) for p in tmp_path.parents)
        assert identity.reachable_by(closed / "inner/tool", 65534, 65534, os.R_OK | os.X_OK) == reachable
    finally:
        closed.chmod(0o755)


def test_root_falls_back_to_a_user_namespace_and_says_why(tmp_path, monkeypatch):
    monkeypatch.delenv(identity.JOB_USER_ENV, raising=False)
    who, why = identity.choose("namespace", tmp_path, tmp_path)
    if os.geteuid() != 0:
        assert (who.kind, why) == ("userns", None)  # a user's jobs keep that user, without capabilities
    elif why is not None:
        assert who.kind == "userns" and "cannot reach" in why
    else:
        assert (who.kind, who.uid) == ("uid", identity.NOBODY)
    assert identity.choose("shared", tmp_path, tmp_path)[0].kind == "none"
    monkeypatch.setenv(identity.JOB_USER_ENV, "root")
    assert identity.choose("namespace", tmp_path, tmp_path)[0].kind == "userns"
