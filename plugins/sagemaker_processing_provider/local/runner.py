"""The per-job runner, forked by the job's watchdog (``watchdog.py``).

It owns the job until a terminal state: prepares each host's ``/opt/ml`` (``job.py``), runs the
hosts in their sandboxes (``hosts.py``), enforces ``MaxRuntimeInSeconds``, obeys ``Stopping``,
publishes outputs and writes the final state, in a ``finally``, whatever went wrong.
What a job made is never trusted: its output is read in bounded lines, its exit message and outputs
without following symlinks or opening FIFOs (``safefs.py``), and its status only ever comes from here.
Imports are kept light (no botocore): runner start-up is part of every job's overhead.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from sagemaker_processing_provider.local import failpoints, identity, safefs, sandbox
from sagemaker_processing_provider.local.hosts import Host, kill_hosts, run_hosts
from sagemaker_processing_provider.local.job import Job, command, host_env, prepare_hosts, shims
from sagemaker_processing_provider.local.store import JobStore, now_iso

EXIT_MESSAGE_BYTES = 1024


def exit_message(job: Job) -> str | None:
    """``/opt/ml/output/message`` of each host: regular files only, never followed, never blocking."""
    parts = []
    for host in job.hosts:
        data = safefs.read_head(job.host_ml(host), "output/message", EXIT_MESSAGE_BYTES)
        if data:
            parts.append(data.decode("utf-8", errors="replace"))
    return "".join(parts)[:EXIT_MESSAGE_BYTES] or None


def outcome(job: Job, interrupted: str | None, hosts: list[Host]) -> dict[str, Any]:
    if interrupted == "stop":
        return {"ProcessingJobStatus": "Stopped"}
    if interrupted == "timeout":
        limit = job.request["StoppingCondition"]["MaxRuntimeInSeconds"]
        return {
            "ProcessingJobStatus": "Failed",
            "FailureReason": f"MaxRuntimeExceeded: the job ran longer than StoppingCondition."
            f"MaxRuntimeInSeconds ({limit} s) and was stopped",
        }
    for host in sorted(hosts, key=lambda h: h.ended):  # the first to fail is the cause
        if host.proc.returncode != 0:
            code = host.proc.returncode
            code_text = f"{code}" if code > 0 else f"{128 - code} (killed by signal {-code})"
            return {
                "ProcessingJobStatus": "Failed",
                "FailureReason": f"AlgorithmError: See job logs for more information ({host.name}), "
                f"exit code: {code_text}",
            }
    return {"ProcessingJobStatus": "Completed"}


def run(job: Job) -> dict[str, Any]:
    job.phase("staging")
    argv = command(job)
    who, why = identity.choose(sandbox.mode(), job.store.home, shims(job))
    print(
        f"sm-processing: job {job.name} runs as {who.describe()}" + (f"; {why}" if why else ""),
        file=sys.stderr,
    )
    env = host_env(job, who)
    prepare_hosts(job, who)
    outputs = job.request.get("ProcessingOutputConfig", {}).get("Outputs", [])
    uploader = None
    if outputs:
        from sagemaker_processing_provider.local.publish import OutputUploader

        uploader = OutputUploader(
            outputs,
            [job.host_ml(h) for h in job.hosts],
            job.name,
            job_dir=job.dir,
            stop_requested=lambda: job.status() == "Stopping",
            home=job.store.home,
        )
        uploader.start()
    if job.status() == "Stopping":  # stopped while staging
        if uploader:
            uploader.finish(False)
        return {"ProcessingJobStatus": "Stopped"}
    job.phase("running")
    job.set(ProcessingStartTime=now_iso())
    max_runtime = job.request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
    deadline = time.monotonic() + max_runtime if max_runtime else None
    interrupted, hosts = run_hosts(job, argv, env, who, deadline)
    result = outcome(job, interrupted, hosts)
    if uploader:
        job.phase("publishing")
        result = publish(job, uploader, result)
    return result


def publish(job: Job, uploader: Any, result: dict[str, Any]) -> dict[str, Any]:
    """Publish, then decide under the job's lock: Completed, unless a stop came first (then undone)."""
    succeeded = result["ProcessingJobStatus"] == "Completed"

    def decide() -> bool:
        final = dict(result, ExitMessage=exit_message(job))
        with job.store.update(job.name) as state:
            if state["ProcessingJobStatus"] == "Stopping":
                return False
            state.update({k: v for k, v in final.items() if v is not None})
            state["ProcessingEndTime"] = now_iso()
        job.finalized = True
        failpoints.hit("publish-decided")
        return True

    try:
        kept = uploader.finish(succeeded, decide)
    except Exception as exc:
        job.note(f"output upload failed: {exc}")
        if succeeded:
            return {
                "ProcessingJobStatus": "Failed",
                "FailureReason": f"ClientError: output upload failed: {exc}",
            }
        return result
    if succeeded and not kept:
        return {"ProcessingJobStatus": "Stopped"}
    return result


def finish(store: JobStore, name: str, job: Job | None, result: dict[str, Any]) -> None:
    """Write the terminal state: this runner is the only authority on it while it lives."""
    result = dict(result)
    if job is not None and job.finalized:
        final = result["ProcessingJobStatus"]
    else:
        if job is not None:
            result.setdefault("ExitMessage", exit_message(job))
        with store.update(name) as state:
            for field in ("FailureReason", "ExitMessage"):
                state.pop(field, None)  # only this runner's own words, never what a job wrote there
            state.update({k: v for k, v in result.items() if v is not None})
            state["ProcessingEndTime"] = now_iso()
            final = state["ProcessingJobStatus"]
    if job is not None:
        line = f"job {name} ended {final}"
        if result.get("FailureReason"):
            line += f": {result['FailureReason']}"
        if job.lost_log_bytes:
            line += f" ({job.lost_log_bytes} bytes of log lost: the job store's disk is full)"
        job.note(line)


def failure_reason(exc: BaseException) -> str:
    """ClientError for what the request or its data caused, InternalServerError for the rest (as AWS)."""
    from sagemaker_processing_provider.errors import ProcessingError

    if isinstance(exc, OSError | ValueError | LookupError | ProcessingError):
        reason = f"ClientError: {exc}"
    else:
        reason = f"InternalServerError: {type(exc).__name__}: {exc}"
    return reason[:1024]


class _JobLogHandler(logging.Handler):
    """Send the runner's (and staging's) log records to the job log, where the task log shows them."""

    def __init__(self, job: Job) -> None:
        super().__init__(logging.INFO)
        self.job = job

    def emit(self, record: logging.LogRecord) -> None:
        self.job.note(record.getMessage())


def main(job_dir: Path) -> int:
    """Run the job to a terminal state; the state is written whatever happens (also on a full disk)."""
    store, name = JobStore(job_dir.parent.parent), job_dir.name
    job: Job | None = None
    result: dict[str, Any] = {
        "ProcessingJobStatus": "Failed",
        "FailureReason": "InternalServerError: the runner ended before deciding the job's outcome",
    }
    try:
        job = Job(job_dir)
        logging.basicConfig(level=logging.INFO, handlers=[_JobLogHandler(job)], force=True)
        result = run(job)
    except BaseException as exc:  # the job must end in a state, whatever went wrong
        if job is not None:
            kill_hosts([h for h in job.started if h.proc.poll() is None])
        result = {"ProcessingJobStatus": "Failed", "FailureReason": failure_reason(exc)}
    finally:
        if job is not None:
            job.phase("finishing")
        try:
            finish(store, name, job, result)
        except BaseException:
            print(f"sm-processing: could not write the final state {result}", file=sys.stderr, flush=True)
            raise
        failpoints.hit("finished")
    return 0
