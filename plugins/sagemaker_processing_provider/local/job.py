"""A job as its runner sees it: its folder, request and state, each host's /opt/ml and environment.

``prepare_hosts`` makes each host's ``/opt/ml`` (config files, staged inputs) and working directory,
handed to the job's user when jobs run unprivileged; ``host_env`` is the job's environment: the
runner's own minus the engine's settings and Airflow's (its database, connections, secrets: a
SageMaker container never sees the caller's Airflow), the runtime's shims first on ``PATH``, then the
request's ``Environment``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import IO, Any

from sagemaker_processing_provider.local import failpoints, identity, runtimes
from sagemaker_processing_provider.local.spark_rendezvous import JOB_DIR_ENV, meeting_folder
from sagemaker_processing_provider.local.store import JobStore, pid_record, read_json_quiet, write_json_atomic

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
        self.started: list[Any] = []  # hosts.Host launched, killed if the runner itself fails
        self.exited = threading.Event()  # set whenever a host process ends: no polling latency
        self.finalized = False  # this runner wrote the final state itself (at the publish decision)

    def host_ml(self, host: str) -> Path:
        return self.dir / "hosts" / host / "ml"

    def meeting_dir(self) -> Path | None:
        """Where the hosts of a job of several hosts meet (a Spark cluster's rendezvous), if they can:
        only in namespace mode do they run side by side."""
        from sagemaker_processing_provider.local import sandbox

        if len(self.hosts) < 2 or sandbox.mode() != "namespace":
            return None
        return meeting_folder(self.dir)

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
    env = {k: v for k, v in os.environ.items() if k in KEEP_ENGINE_VARS or not k.startswith(DROP_PREFIXES)}
    env["PATH"] = f"{shims(job)}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
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
    meeting = job.meeting_dir()
    if meeting is not None:
        meeting.mkdir(exist_ok=True)
        identity.hand_over(meeting, who)
        env[JOB_DIR_ENV] = str(job.dir)  # the hosts find meeting_dir() under it: the rest is hidden
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


def shims(job: Job) -> Path:
    return runtimes.shim_dir(runtimes.resolve(job.request["AppSpecification"]["ImageUri"]), job.store.home)
