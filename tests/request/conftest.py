"""Fixtures of the request-builder tests: moto's real S3 server, stagers, botocore's validation."""

from __future__ import annotations

import pytest

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def validate_request():
    """botocore's own parameter validation of a CreateProcessingJob request.

    ``file://`` URIs (the local backend's) are swapped for ``s3://`` first: botocore does not check
    patterns, but AWS would refuse them, and the request must otherwise be one AWS accepts.
    """
    import botocore.session
    from botocore.validate import validate_parameters

    shape = botocore.session.get_session().get_service_model("sagemaker")
    shape = shape.operation_model("CreateProcessingJob").input_shape

    def swap(value):
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, str) and value.startswith("file://"):
            return "s3://local-bucket" + value.removeprefix("file://")
        return value

    def check(request: dict) -> dict:
        swapped = swap(request)
        validate_parameters(swapped, shape)
        return swapped

    return check
