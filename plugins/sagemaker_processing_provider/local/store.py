"""The job store on disk: one folder per job, so any process (task, trigger, CLI) can describe any job.

Layout under ``SM_PROCESSING_HOME`` (default ``~/.sm-processing``)::

    jobs/<name>/request.json    the CreateProcessingJob request, as accepted
    jobs/<name>/state.json      the DescribeProcessingJob fields that change (status, times, reasons)
    jobs/<name>/state.lock      fcntl lock for read-modify-write of state.json
    jobs/<name>/output.log      the combined log of all hosts
    jobs/<name>/runner.pid      {"pid", "start_time"} of the detached runner
    jobs/<name>/tags.json       the job's tags once AddTags changed them (else the request's Tags)
    jobs/<name>/hosts/algo-N/   {ml, work, pid}: the host's /opt/ml, its cwd, its process group

Writes are atomic (temp file + ``os.replace``); a job folder appears complete or not at all (built
under a temporary name, then renamed, which fails if the name is taken).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOME_ENV = "SM_PROCESSING_HOME"
DEFAULT_HOME = "~/.sm-processing"
TERMINAL = frozenset({"Completed", "Failed", "Stopped"})


def default_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    with open(path) as fh:
        return json.load(fh)


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def pid_record(pid: int) -> dict[str, int | None]:
    """What identifies a process beyond its (reusable) pid."""
    return {"pid": pid, "start_time": proc_start_time(pid)}


def record_alive(record: dict[str, Any] | None) -> bool:
    """True when the recorded process still exists and is not a zombie or a recycled pid."""
    if not record or not record.get("pid"):
        return False
    pid = int(record["pid"])
    start = proc_start_time(pid)
    if start is None or (record.get("start_time") is not None and start != record["start_time"]):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class JobStore:
    """File-backed jobs; safe for concurrent processes (atomic renames, per-job fcntl lock)."""

    def __init__(self, home: Path | str | None = None) -> None:
        self.home = Path(home).expanduser().resolve() if home else default_home()
        self.jobs = self.home / "jobs"

    def job_dir(self, name: str) -> Path:
        return self.jobs / name

    def exists(self, name: str) -> bool:
        return (self.jobs / name / "state.json").is_file()

    def create(self, name: str, request: dict[str, Any], state: dict[str, Any]) -> Path:
        """Create the job folder with its request and first state; ResourceInUse if the name is taken."""
        from sagemaker_processing_provider.api import client_errors

        self.jobs.mkdir(parents=True, exist_ok=True)
        final = self.jobs / name
        if final.exists():
            raise client_errors.ResourceInUse(_in_use(name), "CreateProcessingJob", field="ProcessingJobName")
        tmp = self.jobs / f".new-{name}-{os.getpid()}-{time.time_ns()}"
        tmp.mkdir()
        try:
            write_json_atomic(tmp / "request.json", request)
            write_json_atomic(tmp / "state.json", state)
            (tmp / "output.log").touch()
            os.rename(tmp, final)  # atomic; fails when `final` exists (it is never empty)
        except OSError as exc:
            _remove_tree(tmp)
            if final.exists():
                raise client_errors.ResourceInUse(
                    _in_use(name), "CreateProcessingJob", field="ProcessingJobName"
                ) from exc
            raise
        return final

    def _require(self, name: str, operation: str) -> Path:
        path = self.jobs / name
        if not (path / "state.json").is_file():
            from sagemaker_processing_provider.api import client_errors

            raise client_errors.JobNotFound(f"Could not find requested job with name {name}", operation)
        return path

    def read_request(self, name: str, operation: str = "DescribeProcessingJob") -> dict[str, Any]:
        return read_json(self._require(name, operation) / "request.json")

    def read_state(self, name: str, operation: str = "DescribeProcessingJob") -> dict[str, Any]:
        return read_json(self._require(name, operation) / "state.json")

    @contextmanager
    def update(self, name: str, operation: str = "DescribeProcessingJob") -> Iterator[dict[str, Any]]:
        """Lock, yield the state for in-place changes, write it back atomically if it changed."""
        path = self._require(name, operation)
        with open(path / "state.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = read_json(path / "state.json")
                before = json.dumps(state, sort_keys=True, default=str)
                yield state
                if json.dumps(state, sort_keys=True, default=str) != before:
                    state["LastModifiedTime"] = now_iso()
                    write_json_atomic(path / "state.json", state)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def names(self) -> list[str]:
        if not self.jobs.is_dir():
            return []
        return [p.name for p in self.jobs.iterdir() if not p.name.startswith(".") and p.is_dir()]

    def read_pid(self, path: Path) -> dict[str, Any] | None:
        try:
            return read_json(path)
        except (OSError, ValueError):
            return None


def _in_use(name: str) -> str:
    return f"Job name must be unique within an AWS account and region, and a job with this name already exists ({name})"


def _remove_tree(path: Path) -> None:
    """Remove a temporary folder this module created (never user data)."""
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        child.rmdir() if child.is_dir() and not child.is_symlink() else child.unlink()
    path.rmdir()
