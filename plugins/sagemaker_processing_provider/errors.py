"""Typed errors shared by the request builder, the backends and the operators.

The local backend raises the same botocore errors AWS does (``ParamValidationError`` for a
request that does not fit the API's shapes, ``ClientError`` with AWS's error codes otherwise),
so callers handle both backends with one ``except``. The subclasses below only add a precise
type and the offending field.
"""

from __future__ import annotations

from botocore.exceptions import ClientError


class ProcessingError(Exception):
    """Base class of this provider's own errors."""


class RequestError(ProcessingError, ValueError):
    """SDK-style parameters that cannot become a valid CreateProcessingJob request."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class UnsupportedImageError(ProcessingError):
    """The local backend has no runtime for this image."""


class PrerequisiteError(ProcessingError):
    """Something this machine needs (Java, spark-submit, unshare) is missing."""


class ProcessingJobFailed(ProcessingError):
    """A job ended Failed or Stopped; the message carries FailureReason and ExitMessage."""

    def __init__(self, job_name: str, status: str, reason: str | None, exit_message: str | None) -> None:
        parts = [f"Processing job {job_name} ended {status}"]
        if reason:
            parts.append(f"FailureReason: {reason}")
        if exit_message:
            parts.append(f"ExitMessage: {exit_message}")
        super().__init__(". ".join(parts))
        self.job_name, self.status, self.reason, self.exit_message = job_name, status, reason, exit_message


class SageMakerClientError(ClientError):
    """A ClientError raised by the local backend, shaped like AWS's."""

    code = "ValidationException"

    def __init__(self, message: str, operation: str, field: str | None = None) -> None:
        super().__init__({"Error": {"Code": self.code, "Message": message}}, operation)
        self.field = field


class ValidationException(SageMakerClientError):
    """A request AWS would reject with ValidationException (the message names the field)."""


class JobNotFound(SageMakerClientError):
    """AWS answers an unknown job name with ValidationException "Could not find requested job"."""


class ResourceInUse(SageMakerClientError):
    """A job of that name already exists (AWS: ResourceInUse)."""

    code = "ResourceInUse"


class StagingError(ProcessingError):
    """An input could not be staged or an output could not be published.

    ``channel`` is e.g. ``input 'data'`` or ``output 'train'``; ``uri`` the source or destination, so a
    task log says which of a job's ten inputs/outputs went wrong and where it pointed.
    """

    def __init__(self, channel: str, uri: str, message: str) -> None:
        super().__init__(f"{channel} ({uri}): {message}")
        self.channel, self.uri = channel, uri
