"""The detached per-job runner: ``python -m sagemaker_processing_provider.local.runner <job_dir>``.

Started by ``LocalProcessingBackend.create_processing_job`` in its own session, it owns the job until
a terminal state: prepares each host's ``/opt/ml`` (config files, staged inputs), runs the hosts in
their sandboxes, streams their output to ``output.log``, enforces ``MaxRuntimeInSeconds``, obeys
``Stopping``, uploads outputs and writes the final state. Any exception ends the job ``Failed`` with
the error as reason; if the runner itself dies, ``describe`` notices (see backend.py).
Imports are kept light (no botocore): runner start-up is part of every job's overhead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from sagemaker_processing_provider.local import runtimes, sandbox
from sagemaker_processing_provider.local.store import (
    TERMINAL,
    JobStore,
    now_iso,
    pid_record,
    write_json_atomic,
)

KILL_GRACE_SECONDS = float(os.environ.get("SM_PROCESSING_KILL_GRACE", "2"))
EXIT_MESSAGE_BYTES = 1024


class Job:
    """One job's folder, request and state transitions, as seen by its runner."""

    def __init__(self, job_dir: Path) -> None:
        self.dir = job_dir
        self.name = job_dir.name
        self.store = JobStore(job_dir.parent.parent)
        self.request: dict[str, Any] = self.store.read_request(self.name)
        self.state: dict[str, Any] = self.store.read_state(self.name)
        cluster = self.request["ProcessingResources"]["ClusterConfig"]
        self.hosts = [f"algo-{i}" for i in range(1, int(cluster["InstanceCount"]) + 1)]
        self.log_lock = threading.Lock()
        self.log: IO[bytes] = open(job_dir / "output.log", "ab", buffering=0)  # noqa: SIM115
        self.started: list[Host] = []  # hosts launched, killed if the runner itself fails
        self.exited = threading.Event()  # set whenever a host process ends: no polling latency

    def host_ml(self, host: str) -> Path:
        return self.dir / "hosts" / host / "ml"

    def status(self) -> str:
        return self.store.read_state(self.name)["ProcessingJobStatus"]

    def set(self, **fields: Any) -> dict[str, Any]:
        with self.store.update(self.name) as state:
            state.update(fields)
            return dict(state)

    def note(self, text: str) -> None:
        """A runner line in the job log, so the task log explains what the backend did."""
        with self.log_lock:
            self.log.write(f"[sm-processing] {text}\n".encode())


def _config(job: Job) -> dict[str, Any]:
    """processingjobconfig.json, in the documented format (the request plus the ARN)."""
    keys = (
        "ProcessingJobName",
        "AppSpecification",
        "Environment",
        "ProcessingInputs",
        "ProcessingOutputConfig",
        "ProcessingResources",
        "RoleArn",
        "StoppingCondition",
        "NetworkConfig",
    )
    config = {"ProcessingJobArn": job.state["ProcessingJobArn"]}
    config.update({k: job.request[k] for k in keys if k in job.request})
    return config


def prepare_hosts(job: Job) -> None:
    """Make each host's /opt/ml and cwd, write its config files and stage its inputs."""
    inputs = job.request.get("ProcessingInputs", [])
    outputs = job.request.get("ProcessingOutputConfig", {}).get("Outputs", [])
    instance_type = job.request["ProcessingResources"]["ClusterConfig"]["InstanceType"]
    for index, host in enumerate(job.hosts):
        ml = job.host_ml(host)
        for sub in ("config", "output", "processing"):
            (ml / sub).mkdir(parents=True, exist_ok=True)
        (ml.parent / "work").mkdir(exist_ok=True)
        write_json_atomic(ml / "config" / "processingjobconfig.json", _config(job))
        resource = {
            "current_host": host,
            "current_instance_type": instance_type,
            "hosts": job.hosts,
            "network_interface_name": "eth0",
        }
        write_json_atomic(ml / "config" / "resourceconfig.json", resource)
        for item in outputs:
            (ml / _relative(item["S3Output"]["LocalPath"])).mkdir(parents=True, exist_ok=True)
        if inputs:
            from sagemaker_processing_provider.local.staging import stage_inputs

            stage_inputs(inputs, ml, index, len(job.hosts))


def _relative(local_path: str) -> str:
    return local_path.split("/opt/ml/", 1)[1].strip("/")


def host_env(job: Job) -> dict[str, str]:
    runtime = runtimes.resolve(job.request["AppSpecification"]["ImageUri"])
    shims = runtimes.shim_dir(runtime, job.store.home)
    env = dict(os.environ)
    env["PATH"] = f"{shims}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    # A container's Python has its libraries precompiled; locally, a caller's PYTHONDONTWRITEBYTECODE
    # would make every job recompile scikit-learn/pandas (~10 s). Bytecode goes to a cache in the
    # job store instead, never next to the user's sources.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(job.store.home / "pycache"))
    env.update(job.request.get("Environment", {}))
    return env


def command(job: Job) -> list[str]:
    app = job.request["AppSpecification"]
    runtime = runtimes.resolve(app["ImageUri"])
    entrypoint = app.get("ContainerEntrypoint") or list(runtime.default_entrypoint)
    argv = list(entrypoint) + list(app.get("ContainerArguments", []))
    if not argv:
        raise ValueError(
            f"AppSpecification has no ContainerEntrypoint and the '{runtime.name}' runtime has no default "
            'entrypoint: set ContainerEntrypoint (e.g. ["python3", "/opt/ml/processing/input/code/x.py"])'
        )
    return argv


def _pump(job: Job, stream: IO[bytes], prefix: bytes) -> None:
    for line in iter(stream.readline, b""):
        with job.log_lock:
            job.log.write(prefix + line if line.endswith(b"\n") else prefix + line + b"\n")
    stream.close()


class Host:
    """A running host: its process (group), log pump and exit code."""

    def __init__(self, job: Job, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        ml = job.host_ml(name)
        self.proc = sandbox.start(argv, ml, ml.parent / "work", env, stdout=-1)  # -1: PIPE
        write_json_atomic(ml.parent / "pid", pid_record(self.proc.pid))
        prefix = f"[{name}] ".encode() if len(job.hosts) > 1 else b""
        assert self.proc.stdout is not None
        self.pump = threading.Thread(target=_pump, args=(job, self.proc.stdout, prefix), daemon=True)
        self.pump.start()
        threading.Thread(target=self._wait, args=(job,), daemon=True).start()
        job.started.append(self)

    def _wait(self, job: Job) -> None:
        self.proc.wait()
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
        timeout = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
        job.exited.wait(timeout)
        job.exited.clear()
    return None


def run_hosts(
    job: Job, argv: list[str], env: dict[str, str], deadline: float | None
) -> tuple[str | None, list[Host]]:
    if sandbox.mode() == "namespace":
        sandbox.ensure_opt_ml()
        hosts = [Host(job, name, argv, env) for name in job.hosts]
        interrupted = supervise(job, hosts, deadline)
    else:
        hosts, interrupted = [], None
        for name in job.hosts:
            with sandbox.shared_opt_ml(job.host_ml(name)):
                hosts.append(Host(job, name, argv, env))
                interrupted = supervise(job, hosts[-1:], deadline)
            if interrupted or hosts[-1].proc.returncode != 0:
                break
    for host in hosts:
        host.pump.join(timeout=5)
    return interrupted, hosts


def exit_message(job: Job) -> str | None:
    parts = []
    for host in job.hosts:
        try:
            with open(job.host_ml(host) / "output" / "message", "rb") as fh:
                parts.append(fh.read(EXIT_MESSAGE_BYTES).decode("utf-8", errors="replace"))
        except OSError:
            continue
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
    for host in hosts:
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
    argv = command(job)
    env = host_env(job)
    prepare_hosts(job)
    outputs = job.request.get("ProcessingOutputConfig", {}).get("Outputs", [])
    uploader = None
    if outputs:
        from sagemaker_processing_provider.local.publish import OutputUploader

        uploader = OutputUploader(outputs, [job.host_ml(h) for h in job.hosts], job.name)
        uploader.start()
    if job.status() == "Stopping":  # stopped while staging
        result: dict[str, Any] = {"ProcessingJobStatus": "Stopped"}
        if uploader:
            uploader.finish(False)
        return result
    job.set(ProcessingStartTime=now_iso())
    max_runtime = job.request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
    deadline = time.monotonic() + max_runtime if max_runtime else None
    interrupted, hosts = run_hosts(job, argv, env, deadline)
    result = outcome(job, interrupted, hosts)
    if uploader:
        try:
            uploader.finish(result["ProcessingJobStatus"] == "Completed")
        except Exception as exc:
            if result["ProcessingJobStatus"] == "Completed":
                result = {
                    "ProcessingJobStatus": "Failed",
                    "FailureReason": f"ClientError: output upload failed: {exc}",
                }
            job.note(f"output upload failed: {exc}")
    return result


def finish(job: Job, result: dict[str, Any]) -> None:
    """Write the terminal state once (a concurrent describe may already have failed the job)."""
    result = dict(result)
    result.setdefault("ExitMessage", exit_message(job))
    with job.store.update(job.name) as state:
        if state["ProcessingJobStatus"] in TERMINAL:
            return
        state.update({k: v for k, v in result.items() if v is not None})
        state["ProcessingEndTime"] = now_iso()
        final = state["ProcessingJobStatus"]
    line = f"job {job.name} ended {final}"
    if result.get("FailureReason"):
        line += f": {result['FailureReason']}"
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m sagemaker_processing_provider.local.runner <job_dir>", file=sys.stderr)
        return 2
    job_dir = Path(args[0]).resolve()
    write_json_atomic(job_dir / "runner.pid", pid_record(os.getpid()))
    job = Job(job_dir)
    logging.basicConfig(level=logging.INFO, handlers=[_JobLogHandler(job)])
    try:
        result = run(job)
    except BaseException as exc:  # the job must end in a state, whatever went wrong
        kill_hosts([h for h in job.started if h.proc.poll() is None])
        result = {"ProcessingJobStatus": "Failed", "FailureReason": failure_reason(exc)}
    finish(job, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
