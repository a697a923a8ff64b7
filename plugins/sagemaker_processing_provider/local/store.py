"""The job store on disk: one folder per job, so any process (task, trigger, CLI) can describe any job.

Layout under ``SM_PROCESSING_HOME`` (default ``~/.sm-processing``)::

    jobs/<name>/request.json    the CreateProcessingJob request, as accepted
    jobs/<name>/state.json      the DescribeProcessingJob fields that change (status, times, reasons)
    jobs/<name>/state.lock      fcntl lock for read-modify-write of state.json
    jobs/<name>/output.log      the combined log of all hosts
    jobs/<name>/runner.pid      {"pid", "start_time", "pidns", "watchdog", "phase"} of the detached runner
    jobs/<name>/runner.log      the runner's and its watchdog's own stderr
    jobs/<name>/reserve         16 KiB kept until the job ends: freed to write the final state on a full disk
    jobs/<name>/publish.json    the publish journal while EndOfJob outputs move into place (journal.py)
    jobs/<name>/tags.json       the job's tags once AddTags changed them (else the request's Tags)
    jobs/<name>/hosts/algo-N/   {ml, work, pid}: the host's /opt/ml, its cwd, its process group

Writes are atomic (temp file + ``os.replace``); a job folder appears complete or not at all (built
under a temporary name, with its runner already started, then renamed under the store's creation lock,
which refuses a name taken in any letter case). ``jobs/`` is private to the store's owner (0700) and
``.sm-processing-store`` marks the store, so no job output is ever published into one.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOME_ENV = "SM_PROCESSING_HOME"
DEFAULT_HOME = "~/.sm-processing"
TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
MARKER = ".sm-processing-store"  # destinations.py refuses outputs into any folder of a marked store
RESERVE_BYTES = 16 * 1024
NEW_PREFIX = ".new-"


class UnreadableJob(Exception):
    """A job folder whose request or state cannot be read (corrupt, or a disk error)."""

    def __init__(self, name: str, cause: BaseException) -> None:
        super().__init__(f"the job store cannot read job {name}: {cause}")
        self.name, self.cause = name, cause


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


def pid_namespace() -> str | None:
    """This process's PID namespace (``pid:[4026531836]``): a pid means something only inside it."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def pid_record(pid: int) -> dict[str, Any]:
    """What identifies a process beyond its (reusable) pid, and the PID namespace it is seen in."""
    return {"pid": pid, "start_time": proc_start_time(pid), "pidns": pid_namespace()}


def record_state(record: dict[str, Any] | None) -> str | None:
    """The recorded process's state letter (``R``, ``S``, ``T``...) or None when it is gone or recycled."""
    if not record or not record.get("pid"):
        return None
    pid = int(record["pid"])
    start = proc_start_time(pid)
    if start is None or (record.get("start_time") is not None and start != record["start_time"]):
        return None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    return None if state in ("Z", "X") else state


def record_alive(record: dict[str, Any] | None) -> bool:
    """True when the recorded process still exists and is not a zombie or a recycled pid."""
    return record_state(record) is not None


def write_reserved(path: Path, data: Any) -> None:
    """``write_json_atomic`` for a job's final state; on a full disk, written into its reserve.

    The reserve (``RESERVE_BYTES`` allocated at creation) is overwritten in place, which needs no free
    block, truncated, and renamed over ``state.json``: another process cannot take the space first.
    """
    try:
        write_json_atomic(path, data)
        return
    except OSError as exc:
        reserve = path.parent / "reserve"
        if exc.errno != errno.ENOSPC or not reserve.exists():
            raise
    body = json.dumps(data, indent=2, default=str).encode()
    with open(reserve, "r+b") as fh:
        if len(body) > os.fstat(fh.fileno()).st_size:
            raise OSError(errno.ENOSPC, "the final state does not fit in the job's reserve")
        fh.write(body)
        fh.truncate(len(body))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(reserve, path)


class JobStore:
    """File-backed jobs; safe for concurrent processes (atomic renames, per-job fcntl lock)."""

    def __init__(self, home: Path | str | None = None) -> None:
        self.home = Path(home).expanduser().resolve() if home else default_home()
        self.jobs = self.home / "jobs"

    def job_dir(self, name: str) -> Path:
        if not name or "/" in name or name.startswith(".") or "\0" in name:
            raise ValueError(f"not a job name: {name!r}")  # callers validate; this guards the paths
        return self.jobs / name

    def exists(self, name: str) -> bool:
        return (self.job_dir(name) / "state.json").is_file()

    def ensure(self) -> None:
        """Create the store (``jobs/`` private to its owner) and its marker."""
        if not self.jobs.is_dir():
            self.jobs.mkdir(parents=True, exist_ok=True)
            self.jobs.chmod(0o700)
        marker = self.home / MARKER
        if not marker.exists():
            marker.write_text("An sm-processing job store: outputs are never published into it.\n")

    # -- creation: build under a temporary name, then rename under the creation lock ------------
    def stage_new(self, name: str, request: dict[str, Any], state: dict[str, Any]) -> Path:
        """A complete job folder under a hidden temporary name (not a job until :meth:`commit_new`)."""
        self.ensure()
        self.sweep_new()
        tmp = self.jobs / f"{NEW_PREFIX}{name}-{os.getpid()}-{time.time_ns()}"
        tmp.mkdir()
        try:
            write_json_atomic(tmp / "request.json", request)
            write_json_atomic(tmp / "state.json", state)
            (tmp / "output.log").touch()
            with open(tmp / "reserve", "wb") as fh:
                fh.write(b"\0" * RESERVE_BYTES)
        except BaseException:
            discard_tree(tmp)
            raise
        return tmp

    def commit_new(self, tmp: Path, name: str) -> Path:
        """Rename the folder to the job's name; ResourceInUse if the name is taken in any letter case."""
        final = self.job_dir(name)
        with self._creation_lock():
            taken = self.taken(name)
            if taken is None:
                try:
                    os.rename(tmp, final)  # atomic; fails when `final` exists (it is never empty)
                    return final
                except OSError:
                    if not final.exists():
                        raise
                    taken = name
        from sagemaker_processing_provider.api import client_errors

        raise client_errors.ResourceInUse(_in_use(taken), "CreateProcessingJob", field="ProcessingJobName")

    def taken(self, name: str) -> str | None:
        """The existing job whose name equals ``name`` regardless of case (SageMaker's rule), or None."""
        lower = name.lower()
        if self.job_dir(name).exists():
            return name
        for existing in self.names():
            if existing.lower() == lower:
                return existing
        return None

    @contextmanager
    def _creation_lock(self) -> Iterator[None]:
        with open(self.home / ".create.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def sweep_new(self) -> None:
        """Remove temporary folders of creators that died before renaming them."""
        for tmp in self.jobs.glob(f"{NEW_PREFIX}*"):
            try:
                pid = int(tmp.name.rsplit("-", 2)[1])
            except (IndexError, ValueError):
                continue
            owner = read_json_quiet(tmp / "runner.pid") or {}
            alive = (
                Path(f"/proc/{pid}").exists() or record_alive(owner) or record_alive(owner.get("watchdog"))
            )
            if not alive:
                discard_tree(tmp)

    # -- reading ----------------------------------------------------------------------------------
    def _require(self, name: str, operation: str) -> Path:
        path = self.job_dir(name)
        if not (path / "state.json").is_file():
            from sagemaker_processing_provider.api import client_errors

            raise client_errors.JobNotFound(f"Could not find requested job with name {name}", operation)
        return path

    def _read(self, name: str, file: str, operation: str) -> dict[str, Any]:
        path = self._require(name, operation) / file
        try:
            data = read_json(path)
        except (OSError, ValueError) as exc:
            raise UnreadableJob(name, exc) from exc
        if not isinstance(data, dict):
            raise UnreadableJob(name, ValueError(f"{file} does not hold a JSON object"))
        return data

    def read_request(self, name: str, operation: str = "DescribeProcessingJob") -> dict[str, Any]:
        return self._read(name, "request.json", operation)

    def read_state(self, name: str, operation: str = "DescribeProcessingJob") -> dict[str, Any]:
        state = self._read(name, "state.json", operation)
        if not isinstance(state.get("ProcessingJobStatus"), str) or not state.get("CreationTime"):
            raise UnreadableJob(name, ValueError("state.json has no ProcessingJobStatus/CreationTime"))
        return state

    @contextmanager
    def locked(self, name: str, operation: str = "DescribeProcessingJob") -> Iterator[Path]:
        """Hold the job's lock (the one :meth:`update` takes) without reading its state."""
        path = self._require(name, operation)
        with open(path / "state.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def update(self, name: str, operation: str = "DescribeProcessingJob") -> Iterator[dict[str, Any]]:
        """Lock, yield the state for in-place changes, write it back atomically if it changed.

        On a full disk the job's reserve is freed for this write (see :func:`write_reserved`).
        """
        with self.locked(name, operation) as path:
            state = self.read_state(name, operation)
            before = json.dumps(state, sort_keys=True, default=str)
            yield state
            if json.dumps(state, sort_keys=True, default=str) != before:
                state["LastModifiedTime"] = now_iso()
                if state.get("ProcessingJobStatus") in TERMINAL:
                    write_reserved(path / "state.json", state)
                    (path / "reserve").unlink(missing_ok=True)
                else:
                    write_json_atomic(path / "state.json", state)

    def names(self) -> list[str]:
        if not self.jobs.is_dir():
            return []
        return [p.name for p in self.jobs.iterdir() if not p.name.startswith(".") and p.is_dir()]

    def read_pid(self, path: Path) -> dict[str, Any] | None:
        return read_json_quiet(path)


def read_json_quiet(path: Path) -> dict[str, Any] | None:
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _in_use(name: str) -> str:
    return f"Job name must be unique within an AWS account and region, and a job with this name already exists ({name})"


def discard_tree(path: Path) -> None:
    """Remove a temporary job folder this module created (never user data; symlinks not followed)."""
    with suppress(FileNotFoundError):
        shutil.rmtree(path)
