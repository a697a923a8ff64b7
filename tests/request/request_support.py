"""Helpers of the request-builder tests."""

from __future__ import annotations

TARGET_FIELDS = ("job_name", "region", "stager", "default_output_prefix")


def build_and_upload(builder, params_class, **kwargs) -> dict:
    """Call a request builder the way the operator does: params + target, then the stager's upload."""
    from sagemaker_processing_provider.request.stager import BuildTarget

    target = BuildTarget(**{k: kwargs.pop(k) for k in TARGET_FIELDS if k in kwargs})
    request = builder(params_class(**kwargs), target)
    target.stager.upload()
    return request
