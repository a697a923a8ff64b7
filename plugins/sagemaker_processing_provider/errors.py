"""Typed errors shared by the request builder, the backends and the operators.

Kept free of botocore so that importing an operator at DAG parse time stays cheap; the local
backend's AWS-shaped ``ClientError`` subclasses live in ``api/client_errors.py``.
"""

from __future__ import annotations


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


class RequirementsError(ProcessingError):
    """A job's ``pip install`` the local runtime cannot honour, or the installer failing (one line)."""


class StagingError(ProcessingError):
    """An input could not be staged or an output could not be published.

    ``channel`` is e.g. ``input 'data'`` or ``output 'train'``; ``uri`` the source or destination, so a
    task log says which of a job's ten inputs/outputs went wrong and where it pointed.
    """

    def __init__(self, channel: str, uri: str, message: str) -> None:
        super().__init__(f"{channel} ({uri}): {message}")
        self.channel, self.uri = channel, uri
