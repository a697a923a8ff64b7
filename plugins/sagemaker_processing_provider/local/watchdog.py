"""A job's watchdog: ``python -m sagemaker_processing_provider.local.watchdog TMP_DIR JOB_DIR DEV:INO``.

``LocalProcessingBackend.create_processing_job`` starts it (in a session of its own) on the job's
folder while that folder still has a temporary name, then renames the folder and writes ``go`` on
its stdin: a creator killed before the rename leaves no job (this process removes the folder), one
killed after it leaves a job that runs. So no job ever exists without its watchdog.

The watchdog forks the runner (``runner.py``, in a session of its own too) and outlives it:

- the moment the runner dies, however (``kill -9``, a crash), the job gets its final state from
  ``reconcile.py``: leftover host processes killed, an interrupted publish finished or undone, and a
  reason that names the signal or exit code and what the runner was doing;
- should the runner stop responding, the watchdog enforces what it should have: host processes
  killed a few seconds after ``MaxRuntimeInSeconds`` or after a stop request, and the runner itself
  killed (and the job settled) if it still has not moved on;
- at start it settles any job of the store whose runner and watchdog are both gone.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sagemaker_processing_provider.local import failpoints, hosts, journal, reconcile, runner
from sagemaker_processing_provider.local.store import (
    TERMINAL,
    JobStore,
    discard_tree,
    pid_record,
    read_json_quiet,
    write_json_atomic,
)

STOP_GRACE_SECONDS = hosts.KILL_GRACE_SECONDS + 5  # a stop the runner has not carried out by then
RUNTIME_GRACE_SECONDS = hosts.BACKSTOP_SECONDS + 1  # past MaxRuntimeInSeconds
RUNNER_GRACE_SECONDS = hosts.KILL_GRACE_SECONDS + 2  # after killing the hosts, before killing the runner


def handshake(tmp: Path, final: Path, folder_id: list[int]) -> Path | None:
    """The job's folder once the creator renamed it, or None (then the temporary folder is removed).

    ``folder_id`` is the folder's (device, inode), which the rename keeps: a creator that died after
    renaming left a job to run, one that died before left a folder to remove.
    """
    try:
        said = sys.stdin.buffer.read()  # "go", or nothing: the creator closed the pipe or died
    except OSError:
        said = b""
    if said.startswith(b"go") or journal.identity(final) == folder_id:
        return final
    if journal.identity(tmp) == folder_id:
        discard_tree(tmp)
    return None


class Watchdog:
    def __init__(self, job_dir: Path, child: int) -> None:
        self.job_dir = job_dir
        self.name = job_dir.name
        self.store = JobStore(job_dir.parent.parent)
        self.child = child
        self.stopping_since: float | None = None
        self.verdict: str | None = None  # set when this watchdog killed an unresponsive runner

    def watch(self) -> int:
        pidfd = os.pidfd_open(self.child)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        while not poller.poll(1000):
            self.enforce()
        os.close(pidfd)
        _, status = os.waitpid(self.child, 0)
        self.after(status)
        return 0

    def enforce(self) -> None:
        state = read_json_quiet(self.job_dir / "state.json") or {}
        status = state.get("ProcessingJobStatus")
        if status in TERMINAL or status is None:
            return
        if status == "Stopping":
            self.stopping_since = self.stopping_since or time.monotonic()
            late = time.monotonic() - self.stopping_since - STOP_GRACE_SECONDS
            self._overdue(late, "the runner did not carry out the stop request")
            return
        limit = (self._request().get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        started = state.get("ProcessingStartTime")
        if limit and started:
            ran = (datetime.now(UTC) - datetime.fromisoformat(started)).total_seconds()
            late = ran - limit - RUNTIME_GRACE_SECONDS
            reason = (
                f"MaxRuntimeExceeded: the job ran longer than StoppingCondition.MaxRuntimeInSeconds "
                f"({limit} s) and was stopped by its watchdog (the runner did not respond)"
            )
            self._overdue(late, reason, only_while_running=True)

    def _overdue(self, late: float, reason: str, only_while_running: bool = False) -> None:
        if late <= 0:
            return
        reconcile.kill_hosts(self.job_dir)
        phase = (read_json_quiet(self.job_dir / "runner.pid") or {}).get("phase")
        if late > RUNNER_GRACE_SECONDS and (phase == "running" or not only_while_running):
            self.verdict = reason
            os.kill(self.child, signal.SIGKILL)

    def _request(self) -> dict:
        return read_json_quiet(self.job_dir / "request.json") or {}

    def after(self, status: int) -> None:
        """The runner ended: if it left the job unfinished, settle it with the true cause."""
        state = read_json_quiet(self.job_dir / "state.json") or {}
        if state.get("ProcessingJobStatus") in TERMINAL and journal.load(self.job_dir) is None:
            return
        if self.verdict:
            reason = self.verdict
        elif os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            reason = reconcile.runner_cause(
                self.job_dir, f"was killed by signal {sig} ({signal.Signals(sig).name})"
            )
        else:
            reason = reconcile.runner_cause(
                self.job_dir, f"exited with code {os.waitstatus_to_exitcode(status)}"
            )
        try:
            reconcile.settle(self.store, self.name, reason)
        except Exception as exc:  # e.g. the disk is full: the next describe settles it
            print(f"sm-processing: could not settle job {self.name} ({reason}): {exc}", file=sys.stderr)


def sweep(store: JobStore, skip: str) -> None:
    """Settle the store's jobs whose runner and watchdog are both gone (a restart, a kill of both)."""
    for name in store.names():
        if name == skip:
            continue
        job_dir = store.job_dir(name)
        try:
            state = read_json_quiet(job_dir / "state.json") or {}
            unfinished = state.get("ProcessingJobStatus") not in TERMINAL or journal.load(job_dir) is not None
            if state and unfinished and reconcile.owner_gone(job_dir):
                cause = "and its watchdog are gone (killed, or the machine restarted)"
                reconcile.settle(store, name, reconcile.runner_cause(job_dir, cause))
        except Exception as exc:  # one broken job folder never stops the others
            print(f"sm-processing: could not settle job {name}: {exc}", file=sys.stderr)


def _run_child(job_dir: Path, watchdog: dict) -> None:
    """The forked runner: a session of its own (a signal to the watchdog's group spares it)."""
    code = 1
    try:
        os.setsid()
        write_json_atomic(job_dir / "runner.pid", {**pid_record(os.getpid()), "watchdog": watchdog})
        code = runner.main(job_dir)
    finally:
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print(
            "usage: python -m sagemaker_processing_provider.local.watchdog TMP JOB_DIR DEV:INO",
            file=sys.stderr,
        )
        return 2
    job_dir = handshake(Path(args[0]), Path(args[1]), [int(n) for n in args[2].split(":")])
    if job_dir is None:
        return 0
    me = pid_record(os.getpid())
    child = os.fork()
    if child == 0:
        _run_child(job_dir, me)
    failpoints.hit("watchdog")
    sweep(JobStore(job_dir.parent.parent), job_dir.name)
    return Watchdog(job_dir, child).watch()


if __name__ == "__main__":
    sys.exit(main())
