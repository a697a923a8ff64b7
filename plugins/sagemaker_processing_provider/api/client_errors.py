"""AWS-shaped errors of the local backend.

The local backend raises the same botocore errors AWS does (``ParamValidationError`` for a
request that does not fit the API's shapes, ``ClientError`` with AWS's error codes otherwise),
so callers handle both backends with one ``except``. The subclasses only add a precise type and
the offending field.
"""

from __future__ import annotations

from botocore.exceptions import ClientError


class SageMakerClientError(ClientError):
    """A ClientError raised by the local backend, shaped like AWS's."""

    code = "ValidationException"
    http_status = 400

    def __init__(self, message: str, operation: str, field: str | None = None) -> None:
        super().__init__(
            {
                "Error": {"Code": self.code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": self.http_status},
            },
            operation,
        )
        self.field = field


class ValidationException(SageMakerClientError):
    """A request AWS would reject with ValidationException (the message names the field)."""


class JobNotFound(SageMakerClientError):
    """AWS answers an unknown job name with ValidationException "Could not find requested job"."""


class ResourceInUse(SageMakerClientError):
    """A job of that name already exists (AWS: ResourceInUse)."""

    code = "ResourceInUse"


class InternalFailure(SageMakerClientError):
    """The job store could not answer for one job (e.g. its files are unreadable); AWS's 500 error."""

    code = "InternalFailure"
    http_status = 500
