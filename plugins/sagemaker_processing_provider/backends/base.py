"""The one seam: what operators, triggers and links need from the place where processing jobs run.

``ProcessingBackend`` is the contract; ``backends/aws.py`` (SageMaker, through the Amazon provider's
hooks) and ``backends/local.py`` (the local engine in ``local/``) implement it, and
``hooks/processing.py`` is the only place that chooses one. Callers never branch on the backend.

Both backends drive a client with boto3's SageMaker method names (a boto3 client, or the local
engine's look-alike), so the request/describe/stop logic is shared here in ``ClientBackend``;
each backend adds what differs: staging, logs, links, role names, defaults.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sagemaker_processing_provider.request.stager import Stager

log = logging.getLogger(__name__)

TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
FAILED = frozenset({"Failed", "Stopped"})

# Error codes that mean "try again later" (botocore's standard retry mode lists the same families).
_THROTTLING = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
    "SlowDown", "EC2ThrottledException",
}  # fmt: skip
_TRANSIENT = {
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "InternalFailure",
    "InternalServerError", "InternalError", "ServiceUnavailable", "ServiceUnavailableException",
}  # fmt: skip
_NOT_FOUND = {"ResourceNotFound", "ResourceNotFoundException", "NotFound", "NoSuchEntity"}


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (duck-typed: botocore is not imported here)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def is_transient(exc: BaseException) -> bool:
    """Throttling, a 5xx, a timeout or a dropped connection: the same call may well succeed later."""
    code = error_code(exc)
    if code is not None:
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in _THROTTLING or code in _TRANSIENT or status >= 500 or status == 429
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import HTTPClientError
    except ImportError:  # pragma: no cover - botocore is a dependency
        return isinstance(exc, ConnectionError | TimeoutError)
    return isinstance(exc, BotoConnectionError | HTTPClientError | ConnectionError | TimeoutError)


def is_not_found(exc: BaseException) -> bool:
    """True when DescribeProcessingJob says there is no such job.

    AWS answers an unknown (valid) name with ``ValidationException`` ("Could not find requested job
    with name ..."); other services and simulators say ``ResourceNotFound``. The message is not
    relied on: our names are validated before any call, so a ``ValidationException`` on describe
    can only mean the job does not exist.
    """
    code = error_code(exc)
    return code in _NOT_FOUND or code == "ValidationException"


@runtime_checkable
class ProcessingBackend(Protocol):
    """Where processing jobs run. ``name`` is ``"aws"`` or ``"local"``."""

    name: str
    region: str
    poll_interval: float  # default seconds between two describes
    first_poll_interval: float  # the first wait; it doubles up to poll_interval (short local jobs)

    def validate(self, request: dict) -> None:
        """Raise (naming the field) if the service would refuse this request; nothing is created."""

    def create(self, request: dict) -> None: ...

    def describe(self, job_name: str) -> dict | None:
        """The DescribeProcessingJob answer, or ``None`` when there is no such job."""

    def wait_for_change(self, job_name: str, seconds: float) -> bool:
        """Wait up to ``seconds`` before the next describe; a backend that sees the job change may
        return sooner (the local one watches the job's state file): True if it did."""

    def stop_if_running(self, job_name: str) -> str | None:
        """Stop the job if it is ``InProgress``; return the status found (``None``: no such job)."""

    def log_events(self, job_name: str, cursor: Any) -> tuple[list[str], Any]:
        """Lines written since ``cursor`` (``None`` = from the start) and the next cursor (JSON-safe)."""

    def console_urls(self, job_name: str) -> dict[str, str]:
        """``{"job": url, "logs": url}`` for the UI's extra links."""

    def resolve_role(self, role: str | None) -> str:
        """An IAM role ARN for ``RoleArn`` (a name expanded, a missing role refused or defaulted)."""

    def stager(self, code_location: str | None = None, kms_key_id: str | None = None) -> Stager:
        """Where local code, dependencies and inputs go (see ``request/stager.py``)."""

    def default_output_prefix(self, stager: Stager) -> str:
        """Where outputs without a destination go (``<prefix>/<job>/output/<name>``, as the SDK)."""

    # -- step caching (backends/cache.py) --

    def cache_key(self, request: dict, stager: Stager) -> str:
        """The request's cache key (content of its inputs included); ``Uncacheable`` if it has none."""

    def find_cached(self, key: str, not_before: datetime | None, name_prefix: str) -> dict | None:
        """The newest Completed job tagged with ``key``, ended after ``not_before``, outputs unchanged."""

    def outputs_fingerprint(self, description: dict) -> str:
        """What the job's output destinations hold now (to recognise them unchanged later)."""

    def tag_job(self, job_name: str, tags: dict[str, str]) -> None:
        """Add (or overwrite) tags on a job (``AddTags``)."""


class ClientBackend:
    """The part both backends share: a client with boto3's SageMaker method names and shapes."""

    name = "?"

    @property
    def client(self) -> Any:
        raise NotImplementedError

    def s3_client(self) -> Any:
        """The S3 client for input and output fingerprints (created on first use)."""
        raise NotImplementedError

    def create(self, request: dict) -> None:
        self.client.create_processing_job(**request)

    def cache_key(self, request: dict, stager: Stager) -> str:
        from sagemaker_processing_provider.backends import cache

        return cache.request_key(request, stager.addressed, self.s3_client)

    def find_cached(self, key: str, not_before: datetime | None, name_prefix: str) -> dict | None:
        from sagemaker_processing_provider.backends import cache

        return cache.find_cached(self.client, self.s3_client, key, not_before, name_prefix)

    def outputs_fingerprint(self, description: dict) -> str:
        from sagemaker_processing_provider.backends import cache

        return cache.outputs_fingerprint(description, self.s3_client)

    def tag_job(self, job_name: str, tags: dict[str, str]) -> None:
        arn = self.client.describe_processing_job(ProcessingJobName=job_name)["ProcessingJobArn"]
        self.client.add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def wait_for_change(self, job_name: str, seconds: float) -> bool:
        time.sleep(seconds)
        return False

    def describe(self, job_name: str) -> dict | None:
        try:
            return self.client.describe_processing_job(ProcessingJobName=job_name)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise

    def stop_if_running(self, job_name: str) -> str | None:
        description = self.describe(job_name)
        if description is None:
            log.warning("Processing job %s does not exist; nothing to stop", job_name)
            return None
        status = description["ProcessingJobStatus"]
        if status != "InProgress":
            log.info("Processing job %s is %s; nothing to stop", job_name, status)
            return status
        log.warning("Stopping processing job %s", job_name)
        try:
            self.client.stop_processing_job(ProcessingJobName=job_name)
        except Exception as exc:
            if error_code(exc) != "ValidationException":  # it ended between describe and stop
                raise
            log.info("Processing job %s ended before the stop: %s", job_name, exc)
        return status
