"""A job's hosts at run time: their sandboxed processes, log pumps, the stop and the time limit.

A host's output reaches the job log in bounded lines (a job printing gigabytes without a newline
cannot exhaust the runner's memory), and keeps being drained when the log cannot be written (a full
disk): the job never blocks on its own stdout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import IO

from sagemaker_processing_provider.local import failpoints, identity, sandbox
from sagemaker_processing_provider.local.job import Job
from sagemaker_processing_provider.local.store import pid_record, write_json_atomic

KILL_GRACE_SECONDS = float(os.environ.get("SM_PROCESSING_KILL_GRACE", "2"))
BACKSTOP_SECONDS = KILL_GRACE_SECONDS + 2  # the sandbox's own kill, should the runner be blocked
LINE_BYTES = 64 * 1024  # a job's output line longer than this is split, never buffered whole


def _pump(job: Job, stream: IO[bytes], prefix: bytes) -> None:
    """Copy the host's output to the job log in bounded lines; keep draining even if writes fail."""
    for line in iter(lambda: stream.readline(LINE_BYTES), b""):
        job.write_log(prefix + line if line.endswith(b"\n") else prefix + line + b"\n")
    stream.close()


class Host:
    """A running host: its process (group), log pump and exit code."""

    def __init__(self, job: Job, name: str, launch: sandbox.HostLaunch) -> None:
        self.name = name
        self.ended = float("inf")  # monotonic time its process ended: the first failure is the cause
        self.proc = sandbox.start(launch, stdout=-1)  # -1: PIPE
        write_json_atomic(launch.ml.parent / "pid", pid_record(self.proc.pid))
        prefix = f"[{name}] ".encode() if len(job.hosts) > 1 else b""
        assert self.proc.stdout is not None
        self.pump = threading.Thread(target=_pump, args=(job, self.proc.stdout, prefix), daemon=True)
        self.pump.start()
        threading.Thread(target=self._wait, args=(job,), daemon=True).start()
        job.started.append(self)

    def _wait(self, job: Job) -> None:
        self.proc.wait()
        self.ended = time.monotonic()
        job.exited.set()

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)


def kill_hosts(hosts: list[Host]) -> None:
    """SIGTERM every host's process group, then SIGKILL what is left after a short grace."""
    for host in hosts:
        host.signal(signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while time.monotonic() < deadline and any(h.proc.poll() is None for h in hosts):
        time.sleep(0.05)
    for host in hosts:
        host.signal(signal.SIGKILL)
        host.proc.wait()


def supervise(job: Job, hosts: list[Host], deadline: float | None) -> str | None:
    """Wait for the hosts; return "stop" or "timeout" if they had to be killed, else None."""
    while any(h.proc.poll() is None for h in hosts):
        if deadline is not None and time.monotonic() >= deadline:
            kill_hosts(hosts)
            return "timeout"
        if job.status() == "Stopping":
            job.note("stop requested: terminating the job's processes")
            kill_hosts(hosts)
            return "stop"
        failed = sorted((h for h in hosts if h.proc.returncode not in (None, 0)), key=lambda h: h.ended)
        if failed and any(h.proc.poll() is None for h in hosts):
            job.note(
                f"{failed[0].name} failed (exit code {failed[0].proc.returncode}): ending the other hosts"
            )
            kill_hosts(hosts)  # SageMaker fails the whole job when one instance fails
            break
        timeout = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
        job.exited.wait(timeout)
        job.exited.clear()
    if deadline is not None and time.monotonic() >= deadline:
        return "timeout"  # the sandbox's backstop ended it while this runner was held up
    return None


def run_hosts(
    job: Job, argv: list[str], env: dict[str, str], who: identity.Identity, deadline: float | None
) -> tuple[str | None, list[Host]]:
    def launch(name: str) -> sandbox.HostLaunch:
        ml = job.host_ml(name)
        left = None if deadline is None else deadline - time.monotonic() + BACKSTOP_SECONDS
        hide = job.store.jobs if sandbox.mode() == "namespace" else None
        keep = job.meeting_dir() if hide else None
        return sandbox.HostLaunch(argv, ml, ml.parent / "work", env, who, hide, keep, left)

    if sandbox.mode() == "namespace":
        sandbox.ensure_opt_ml()
        hosts = [Host(job, name, launch(name)) for name in job.hosts]
        failpoints.hit("running")
        interrupted = supervise(job, hosts, deadline)
    else:
        hosts, interrupted = [], None
        for name in job.hosts:
            with sandbox.shared_opt_ml(job.host_ml(name)):
                hosts.append(Host(job, name, launch(name)))
                failpoints.hit("running")
                interrupted = supervise(job, hosts[-1:], deadline)
            if interrupted or hosts[-1].proc.returncode != 0:
                break
    for host in hosts:
        host.pump.join(timeout=5)
    return interrupted, hosts
