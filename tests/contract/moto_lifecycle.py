"""moto's SageMaker processing jobs with real lifecycles, for the contract suite's "AWS" backend.

moto completes every processing job at once, keeps no ``Environment`` or ``ProcessingResources``,
overwrites a job created twice and has no CloudWatch streams for it, which hides what the AWS code
path must handle. ``install(monkeypatch)`` patches moto (in this process, where the threaded moto
server runs) so that a job behaves as its ``Environment`` says, exactly like the contract suite's job
script does on the backends that really run it:

- ``SIM_SECONDS`` (default 2): ``InProgress`` that long, then ``SIM_OUTCOME`` (``Completed`` or
  ``Failed`` with ``SIM_EXIT_MESSAGE``); ``StoppingCondition.MaxRuntimeInSeconds`` shorter than that
  fails it with ``MaxRuntimeExceeded``;
- ``StopProcessingJob`` -> ``Stopping`` for a second -> ``Stopped`` (only an ``InProgress`` job);
- a second ``CreateProcessingJob`` of a name -> ``ResourceInUse``; an unknown name -> moto's own
  ``ValidationException`` ("Could not find processing job '<arn>'", not AWS's wording);
- ``SIM_THROTTLE_DESCRIBES=N``: the first N describes of the job answer ``ThrottlingException``;
- CloudWatch: one stream ``<job>/algo-N-<epoch>`` per instance in ``/aws/sagemaker/ProcessingJobs``,
  a first line at start and ``SIM_LOG_LINES`` lines plus an end line when the job ends.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
STOPPING_SECONDS = 1.0


@dataclass
class SimJob:
    request: dict[str, Any]
    account: str
    region: str
    created: float = field(default_factory=time.time)
    stop_requested: float | None = None
    describes: int = 0
    status: str = "InProgress"
    ended: float | None = None
    reason: str | None = None

    @property
    def env(self) -> dict[str, str]:
        return self.request.get("Environment") or {}

    @property
    def hosts(self) -> list[str]:
        count = self.request["ProcessingResources"]["ClusterConfig"]["InstanceCount"]
        return [f"algo-{i}" for i in range(1, int(count) + 1)]

    def stream(self, host: str) -> str:
        return f"{self.request['ProcessingJobName']}/{host}-{int(self.created)}"


_JOBS: dict[tuple[str, str, str], SimJob] = {}
_LOCK = threading.Lock()


def _log(job: SimJob, host: str, lines: list[str]) -> None:
    from moto.logs.models import logs_backends

    logs = logs_backends[job.account][job.region]
    now = int(time.time() * 1000)
    logs.put_log_events(LOG_GROUP, job.stream(host), [{"timestamp": now, "message": m} for m in lines])


def _start_logs(job: SimJob) -> None:
    from moto.logs.exceptions import ResourceAlreadyExistsException
    from moto.logs.models import logs_backends

    logs = logs_backends[job.account][job.region]
    with contextlib.suppress(ResourceAlreadyExistsException):
        logs.create_log_group(LOG_GROUP, {})
    for host in job.hosts:
        logs.create_log_stream(LOG_GROUP, job.stream(host))
        _log(job, host, [f"job starting on {host}"])


def _advance(job: SimJob) -> None:
    """Move the job along its lifecycle as time passes (called on every read)."""
    if job.status in ("Completed", "Failed", "Stopped"):
        return
    now = time.time()
    if job.stop_requested is not None:
        job.status = "Stopped" if now - job.stop_requested >= STOPPING_SECONDS else "Stopping"
    else:
        seconds = float(job.env.get("SIM_SECONDS", "2"))
        limit = (job.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        if limit and now - job.created >= limit and seconds > limit:
            job.status, job.reason = "Failed", f"MaxRuntimeExceeded: ran longer than {limit} s"
        elif now - job.created >= seconds:
            job.status = job.env.get("SIM_OUTCOME", "Completed")
            if job.status == "Failed":
                job.reason = "AlgorithmError: See job logs for more information"
    if job.status in ("Completed", "Failed", "Stopped"):
        job.ended = now
        count = int(job.env.get("SIM_LOG_LINES", "2"))
        for host in job.hosts:
            _log(job, host, [f"{host} line {i}" for i in range(count)] + [f"job ended {job.status}"])


def _iso(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


def install(monkeypatch: Any) -> None:
    """Patch moto's SageMaker backend and responses for the duration of a test."""
    from moto.core.exceptions import JsonRESTError
    from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    create, describe = SageMakerResponse.create_processing_job, SageMakerModelBackend.describe_processing_job
    moto_stop = SageMakerModelBackend.stop_processing_job

    def key(backend: Any, name: str) -> tuple[str, str, str]:
        return backend.account_id, backend.region_name, name

    def create_processing_job(self: Any):
        request = json.loads(self.body)
        backend = self.sagemaker_backend
        with _LOCK:
            if key(backend, request["ProcessingJobName"]) in _JOBS:
                raise ResourceInUseException(f"Job {request['ProcessingJobName']} already exists")
            answer = create(self)
            job = SimJob(request, backend.account_id, backend.region_name)
            _JOBS[key(backend, request["ProcessingJobName"])] = job
        _start_logs(job)
        return answer

    def describe_processing_job(self: Any, processing_job_name: str) -> dict[str, Any]:
        answer = describe(self, processing_job_name)  # moto's own not-found error first
        with _LOCK:
            job = _JOBS.get(key(self, processing_job_name))
            if job is None:
                return answer
            job.describes += 1
            if job.describes <= int(job.env.get("SIM_THROTTLE_DESCRIBES", "0")):
                raise JsonRESTError("ThrottlingException", "Rate exceeded")
            _advance(job)
            self.processing_jobs[processing_job_name].processing_job_status = job.status
        answer.update({k: v for k, v in job.request.items() if k != "Tags"})
        answer.update(
            ProcessingJobStatus=job.status,
            ProcessingStartTime=_iso(job.created),
            ProcessingEndTime=_iso(job.ended),
            LastModifiedTime=_iso(job.ended or job.created),
        )
        if job.reason:
            answer["FailureReason"] = job.reason
        if job.status == "Failed" and job.env.get("SIM_EXIT_MESSAGE"):
            answer["ExitMessage"] = job.env["SIM_EXIT_MESSAGE"]
        return {k: v for k, v in answer.items() if v is not None}

    def stop_processing_job(self: Any, processing_job_name: str) -> None:
        with _LOCK:
            job = _JOBS.get(key(self, processing_job_name))
            if job is None:
                return moto_stop(self, processing_job_name)
            _advance(job)
            if job.status != "InProgress":
                raise ValidationError(
                    f"The job {processing_job_name} is {job.status}; only InProgress can stop"
                )
            job.stop_requested = time.time()
            job.status = "Stopping"

    monkeypatch.setattr(SageMakerResponse, "create_processing_job", create_processing_job)
    monkeypatch.setattr(SageMakerModelBackend, "describe_processing_job", describe_processing_job)
    monkeypatch.setattr(SageMakerModelBackend, "stop_processing_job", stop_processing_job)
