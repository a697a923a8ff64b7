"""The per-job runner, forked by the job's watchdog (``watchdog.py``).

It owns the job until a terminal state: prepares each host's ``/opt/ml`` (config files, staged inputs), runs the hosts in
their sandboxes, streams their output to ``output.log``, enforces ``MaxRuntimeInSeconds``, obeys
``Stopping``, publishes outputs and writes the final state, in a ``finally``, whatever went wrong.
What a job made is never trusted: its output is read in bounded lines, its exit message and outputs
without following symlinks or opening FIFOs (``safefs.py``), and its status only ever comes from here.
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

from sagemaker_processing_provider.local import failpoints, identity, runtimes, safefs, sandbox
from sagemaker_processing_provider.local.store import (
    JobStore,
    now_iso,
    pid_record,
    read_json_quiet,
    write_json_atomic,
)

KILL_GRACE_SECONDS = float(os.environ.get("SM_PROCESSING_KILL_GRACE", "2"))
BACKSTOP_SECONDS = KILL_GRACE_SECONDS + 2  # the sandbox's own kill, should the runner be blocked
EXIT_MESSAGE_BYTES = 1024
LINE_BYTES = 64 * 1024  # a job's output line longer than this is split, never buffered whole
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
# The job's environment is the runner's minus the engine's own settings and Airflow's (its database,
# connections and secrets): a SageMaker container never sees the caller's Airflow.
KEEP_ENGINE_VARS = frozenset({"SM_PROCESSING_SPARK_MASTER", "SM_PROCESSING_OPT_ML"})
DROP_PREFIXES = ("SM_PROCESSING_", "AIRFLOW_", "AIRFLOW__", "_AIRFLOW")


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
        self.lost_log_bytes = 0  # log writes that failed (a full disk): the job goes on
        self.started: list[Host] = []  # hosts launched, killed if the runner itself fails
        self.exited = threading.Event()  # set whenever a host process ends: no polling latency
        self.finalized = False  # this runner wrote the final state itself (at the publish decision)

    def host_ml(self, host: str) -> Path:
        return self.dir / "hosts" / host / "ml"

    def status(self) -> str:
        return self.store.read_state(self.name)["ProcessingJobStatus"]

    def set(self, **fields: Any) -> dict[str, Any]:
        with self.store.update(self.name) as state:
            state.update(fields)
            return dict(state)

    def phase(self, phase: str) -> None:
        """Record what the runner is doing (a dead runner's reason names it)."""
        record = read_json_quiet(self.dir / "runner.pid") or pid_record(os.getpid())
        record["phase"] = phase
        with contextlib.suppress(OSError):
            write_json_atomic(self.dir / "runner.pid", record)

    def write_log(self, data: bytes) -> None:
        with self.log_lock:
            try:
                self.log.write(data)
            except OSError:
                self.lost_log_bytes += len(data)

    def note(self, text: str) -> None:
        """A runner line in the job log, so the task log explains what the backend did."""
        self.write_log(f"[sm-processing] {text}\n".encode())


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


def prepare_hosts(job: Job, who: identity.Identity) -> None:
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

            stage_inputs(inputs, ml, index, len(job.hosts), home=job.store.home)
            failpoints.hit("staging")
        identity.hand_over(ml, who)
        identity.hand_over(ml.parent / "work", who)


def _relative(local_path: str) -> str:
    return local_path.split("/opt/ml/", 1)[1].strip("/")


def host_env(job: Job, who: identity.Identity) -> dict[str, str]:
    runtime = runtimes.resolve(job.request["AppSpecification"]["ImageUri"])
    shims = runtimes.shim_dir(runtime, job.store.home)
    env = {k: v for k, v in os.environ.items() if k in KEEP_ENGINE_VARS or not k.startswith(DROP_PREFIXES)}
    env["PATH"] = f"{shims}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    # A container's Python has its libraries precompiled; locally, a caller's PYTHONDONTWRITEBYTECODE
    # would make every job recompile scikit-learn/pandas (~10 s). Bytecode goes to a cache in the
    # job store instead, never next to the user's sources; an unprivileged job user could not write
    # it (and must not write what root's jobs run), so it uses the installed bytecode only.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if who.kind == "uid":
        env.pop("PYTHONPYCACHEPREFIX", None)
        env["HOME"] = str(job.host_ml(job.hosts[0]).parent / "work")
    else:
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
    """Copy the host's output to the job log in bounded lines; keep draining even if writes fail."""
    for line in iter(lambda: stream.readline(LINE_BYTES), b""):
        job.write_log(prefix + line if line.endswith(b"\n") else prefix + line + b"\n")
    stream.close()


class Host:
    """A running host: its process (group), log pump and exit code."""

    def __init__(self, job: Job, name: str, launch: sandbox.HostLaunch) -> None:
        self.name = name
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
        return sandbox.HostLaunch(argv, ml, ml.parent / "work", env, who, hide, left)

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
    job.phase("staging")
    argv = command(job)
    who, why = identity.choose(sandbox.mode(), job.store.home, _shims(job))
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


def _shims(job: Job) -> Path:
    return runtimes.shim_dir(runtimes.resolve(job.request["AppSpecification"]["ImageUri"]), job.store.home)


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
