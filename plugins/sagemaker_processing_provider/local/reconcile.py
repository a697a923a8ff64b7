"""Give a job whose runner is gone a final state that agrees with what it published.

Called by the runner's watchdog the moment the runner dies (or after it killed a runner that stopped
responding), by ``describe``/``list`` when runner and watchdog are both gone (a machine restart, a
``kill -9`` of both), and by the next runner's watchdog for any such job of the store. Under the job's
lock: the host processes left are killed; an interrupted publish is finished (the job had succeeded
and no stop was asked: ``Completed``) or undone (``Stopped`` when a stop was asked, else ``Failed``)
from its journal; the final state names the true cause.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Any

from sagemaker_processing_provider.local import journal
from sagemaker_processing_provider.local.store import (
    TERMINAL,
    JobStore,
    now_iso,
    read_json_quiet,
    record_alive,
    write_reserved,
)

log = logging.getLogger(__name__)

PHASES = {
    "starting": "before the job started",
    "staging": "while staging inputs",
    "running": "while the job ran",
    "publishing": "while publishing outputs",
    "finishing": "while writing the final state",
}


def kill_hosts(job_dir: Path, sig: int = signal.SIGKILL) -> int:
    """Signal every live host's process group (its sandbox: the kernel then ends the whole namespace)."""
    killed = 0
    for pid_file in sorted((job_dir / "hosts").glob("algo-*/pid")):
        record = read_json_quiet(pid_file)
        if record and record_alive(record):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(record["pid"]), sig)
                killed += 1
    return killed


def runner_cause(job_dir: Path, how: str) -> str:
    """``InternalServerError: the local runner (pid N) <how> <phase>``."""
    record = read_json_quiet(job_dir / "runner.pid") or {}
    phase = PHASES.get(record.get("phase", ""), "")
    return f"InternalServerError: the local runner (pid {record.get('pid', '?')}) {how} {phase}".rstrip()


def note(job_dir: Path, text: str) -> None:
    with contextlib.suppress(OSError), open(job_dir / "output.log", "ab") as fh:
        fh.write(f"[sm-processing] {text}\n".encode())


def _s3_client() -> Any:
    from sagemaker_processing_provider.local.transfer import lazy_s3_client  # only an S3 publish needs it

    return lazy_s3_client()


def settle(store: JobStore, name: str, reason: str) -> dict[str, Any]:
    """Final state for a job nobody runs any more; returns it. ``reason`` is the FailureReason if it fails."""
    with store.locked(name) as job_dir:
        state = store.read_state(name)
        status = state["ProcessingJobStatus"]
        if status in TERMINAL and journal.load(job_dir) is None:
            return state
        killed = kill_hosts(job_dir)
        keep = status in ("Completed", "InProgress")  # a stop request (Stopping) always undoes
        try:
            published = journal.settle(job_dir, keep, _s3_client())
        except Exception as exc:  # the journal stays: the next look tries again
            published = None
            reason = f"{reason}; undoing its unfinished publish failed ({exc}), retried at the next describe"
        if status in TERMINAL:
            if published:
                note(job_dir, f"an unfinished publish of this {status} job was {published}")
            return state
        detail = f"{killed} host process group(s) terminated" if killed else "no host process was left"
        if published:
            detail += f"; the outputs' publish was {published}"
        if published == "completed":
            final: dict[str, Any] = {"ProcessingJobStatus": "Completed"}
        elif status == "Stopping":
            final = {"ProcessingJobStatus": "Stopped"}
        else:
            text = f"{reason}; {detail}. See the job's output.log and runner.log."
            final = {"ProcessingJobStatus": "Failed", "FailureReason": text[:1024]}
        state.update(final, ProcessingEndTime=now_iso(), LastModifiedTime=now_iso())
        write_reserved(job_dir / "state.json", state)
        (job_dir / "reserve").unlink(missing_ok=True)
        cause = reason.split(": ", 1)[-1]  # what happened, without the AWS error class
        line = f"job {name} ended {state['ProcessingJobStatus']} ({cause}; {detail})"
        note(job_dir, line)
        log.warning("Processing job %s settled: %s", name, line)
        return state


def owner_gone(job_dir: Path) -> bool:
    """True when neither the runner nor its watchdog lives (a stopped watchdog counts as gone).

    Never for a runner of another PID namespace (the job store shared between containers, e.g. the
    Airflow UI plugin in the API server describing a job the scheduler's container runs): its pids
    are not ours to look up, so only a process of its own namespace may settle it.
    """
    from sagemaker_processing_provider.local.store import pid_namespace, record_state

    record = read_json_quiet(job_dir / "runner.pid")
    if record is None:
        return False  # a job of an older store, or a creator still starting it: see the start grace
    if record.get("pidns") and record["pidns"] != pid_namespace():
        return False
    if record_alive(record):
        return False
    return record_state(record.get("watchdog")) in (None, "T", "t")
