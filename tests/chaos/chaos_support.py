"""The fault-injection harness: a fresh store and a user's destination per case, and a judge.

A case runs real jobs through ``LocalProcessingBackend`` and injects one fault: a named failpoint that
SIGKILLs (or SIGSTOPs) the runner at an exact moment (``local/failpoints.py``), a kill from outside, a
stop, a full disk, a race, or a job that tries to escape. :func:`judge` then checks what must hold
whatever happened: the final status agrees with the destination (``Completed``: every output whole;
``Failed``/``Stopped``: the destination byte for byte as before), no scratch is left anywhere, and it
counts the bytes of the user's files lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local_backend"))

from local_backend_support import make_request, processes_with, unique, wait  # noqa: E402
from sagemaker_processing_provider.local.backend import LocalProcessingBackend  # noqa: E402
from sagemaker_processing_provider.local.store import record_alive  # noqa: E402

FAILPOINT = "SM_PROCESSING_FAILPOINT"
TERMINAL = ("Completed", "Failed", "Stopped")
SCRATCH_MARKS = ("sm-publish", ".sm-tmp", ".new-")

# A job writing `n` output files after the go-file exists (so a case can act while it runs).
PRODUCER = """
import os, sys, time
out, n, go, prefix = "/opt/ml/processing/output/result", int(sys.argv[1]), sys.argv[2], sys.argv[3]
while go != "-" and not os.path.exists(go):
    time.sleep(0.02)
os.makedirs(out, exist_ok=True)
for i in range(n):
    with open(f"{out}/{prefix}-{i:04d}.csv", "w") as fh:
        fh.write(f"row {i} from the job\\n" * 40)
"""


def produced(n: int, prefix: str = "part") -> dict[str, bytes]:
    return {f"{prefix}-{i:04d}.csv": f"row {i} from the job\n".encode() * 40 for i in range(n)}


@dataclass
class Outcome:
    """What a case found: problems (empty when everything held) and the user's bytes lost."""

    problems: list[str] = field(default_factory=list)
    lost: int = 0

    @property
    def held(self) -> bool:
        return not self.problems and self.lost == 0

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


@contextlib.contextmanager
def env(**values: str | None) -> Iterator[None]:
    """Set environment variables for the jobs created inside (their watchdogs inherit them)."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Case:
    """One fault-injection case: its store, the user's destination (with the user's files) and code."""

    def __init__(self, root: Path, user_files: int = 20, overlap: int = 10) -> None:
        self.root = root
        self.backend = LocalProcessingBackend(root / "store")
        self.dest = root / "data" / "dest"
        self.before: dict[str, bytes] = {}
        if user_files == 0:
            self.dest = root / "data" / "fresh"  # a destination that does not exist yet
        for i in range(user_files):
            rel = f"part-{i:04d}.csv" if i < overlap else f"notes/user-{i}.txt"
            self.before[rel] = f"the user's own file {i}\n".encode() * 25
        for rel, data in self.before.items():
            (self.dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.dest / rel).write_bytes(data)
        self.producer = root / "producer.py"
        self.producer.write_text(PRODUCER)

    def go_file(self, name: str) -> Path:
        return self.root / f"{name}.go"

    def request(
        self,
        name: str,
        files: int = 30,
        go: bool = True,
        prefix: str = "part",
        inputs: bool = False,
        **extra: Any,
    ) -> dict:
        request = make_request(
            name,
            self.producer,
            ProcessingOutputConfig={
                "Outputs": [
                    {
                        "OutputName": "result",
                        "S3Output": {
                            "S3Uri": self.dest.as_uri(),
                            "LocalPath": "/opt/ml/processing/output/result",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
            **extra,
        )
        go_arg = str(self.go_file(name)) if go else "-"
        request["AppSpecification"]["ContainerArguments"] = [str(files), go_arg, prefix]
        if inputs:
            data = self.root / "input.csv"
            data.write_text("a,b\n1,2\n")
            request["ProcessingInputs"] = [
                {
                    "InputName": "data",
                    "S3Input": {
                        "S3Uri": data.as_uri(),
                        "LocalPath": "/opt/ml/processing/input/data",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                }
            ]
        return request

    def start_script(self, code: str, args: list[str], prefix: str, **extra: Any) -> str:
        """Run ``code`` as the job (with the usual output to the destination) and ``args``; its name."""
        self.producer.write_text(code)
        name = unique(prefix)
        request = self.request(name, **extra)
        request["AppSpecification"]["ContainerArguments"] = args
        self.backend.create_processing_job(**request)
        return name

    def create(self, name: str, failpoint: str | None = None, **kwargs: Any) -> str:
        with env(**{FAILPOINT: failpoint}):
            self.backend.create_processing_job(**self.request(name, **kwargs))
        return name

    def job_dir(self, name: str) -> Path:
        return self.backend.job_folder(name)

    def record(self, name: str) -> dict[str, Any]:
        return json.loads((self.job_dir(name) / "runner.pid").read_text())

    def runner_pid(self, name: str, timeout: float = 60) -> int:
        """The runner's pid once the watchdog has forked it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                record = self.record(name)
                if record["pid"] != record.get("watchdog", {}).get("pid"):
                    return int(record["pid"])
            time.sleep(0.02)
        raise AssertionError(f"{name}: no runner after {timeout}s")

    def state_file(self, name: str) -> dict[str, Any]:
        return json.loads((self.job_dir(name) / "state.json").read_text())

    def wait_file_terminal(self, name: str, timeout: float) -> str:
        """Wait for state.json itself (no describe: nobody looks) to be terminal; the status seen."""
        deadline = time.monotonic() + timeout
        status = "?"
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                status = self.state_file(name)["ProcessingJobStatus"]
            if status in TERMINAL:
                return status
            time.sleep(0.05)
        return status

    def finish(self, name: str, timeout: float = 120) -> dict[str, Any]:
        """The terminal description, once the job's runner and watchdog have exited (all settled)."""
        job = wait(self.backend, name, timeout)
        record = self.record(name)
        quiet = lambda: not record_alive(record) and not record_alive(record.get("watchdog"))  # noqa: E731
        if not wait_until(quiet, 30):
            raise AssertionError(
                f"{name}: runner or watchdog still alive 30 s after {job['ProcessingJobStatus']}"
            )
        return self.backend.describe_processing_job(ProcessingJobName=name)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden ones too), without following symlinks."""
    out = {}
    if not folder.is_dir():
        return out
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root, name)
            out[path.relative_to(folder).as_posix()] = path.read_bytes() if path.is_file() else b"<special>"
    return out


def leftovers(case: Case) -> list[str]:
    """Scratch anywhere under the case's folder: publish scratch, temp files, journals, half-made jobs."""
    found = []
    for root, dirs, files in os.walk(case.root):
        for name in dirs + files:
            if any(mark in name for mark in SCRATCH_MARKS):
                found.append(os.path.join(root, name))
        if Path(root).parent.name == "jobs":
            found += [os.path.join(root, n) for n in ("publish.json", "publish-backup") if n in dirs + files]
    data = case.dest.parent
    if data.is_dir():  # whatever a publish hides beside the destination, under any name
        found += [str(p) for p in data.iterdir() if p.name.startswith(".")]
    return sorted(set(found))


def judge(
    case: Case, job: dict[str, Any], made: dict[str, bytes], expect: tuple[str, ...] = TERMINAL
) -> Outcome:
    """Status agrees with the destination, nothing of the user's is lost, no scratch is left."""
    outcome = Outcome()
    status = job["ProcessingJobStatus"]
    after = tree(case.dest)
    outcome.check(
        status in expect, f"status {status}, expected {'/'.join(expect)}: {job.get('FailureReason')}"
    )
    if status == "Completed":
        broken = [rel for rel, data in made.items() if after.get(rel) != data]
        outcome.check(not broken, f"Completed but {len(broken)} output files not published whole")
        kept = {rel: data for rel, data in case.before.items() if rel not in made}
        extra = set(after) - set(case.before) - set(made)
    else:
        kept = case.before
        extra = set(after) - set(case.before)
        outcome.check(not extra, f"{status} but {len(extra)} files published")
    outcome.lost = sum(len(data) for rel, data in kept.items() if after.get(rel) != data)
    outcome.check(
        not extra or status != "Completed", f"unexpected files at the destination: {sorted(extra)[:3]}"
    )
    left = leftovers(case)
    outcome.check(not left, f"scratch left: {left[:3]}")
    return outcome


def python_processes(marker: str) -> list[int]:
    """Live Python processes with ``marker`` on their command line (not the sandbox's sh, timeout...)."""
    found = []
    for pid in processes_with(marker):
        try:
            if Path(f"/proc/{pid}/comm").read_text().startswith("python"):
                found.append(pid)
        except OSError:
            continue
    return found


def kill(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


__all__ = ["make_request", "processes_with", "unique"]
