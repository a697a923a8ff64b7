"""``SKLearnProcessor``-style parameters -> a ``CreateProcessingJob`` request.

The SDK v3 removed ``SKLearnProcessor``; this rebuilds what v2's ``run()`` sent (reference §1.4):
the scikit-learn image for the region, ``python3 /opt/ml/processing/input/code/<script>``, the user
inputs followed by a ``code`` input, and outputs with the SDK's default names and locations.
"""

from __future__ import annotations

import logging
from typing import Any

from sagemaker_processing_provider.errors import RequestError
from sagemaker_processing_provider.request.common import (
    assemble_request,
    code_input,
    environment,
    precheck,
    text_list,
)
from sagemaker_processing_provider.request.images import sklearn_image_uri
from sagemaker_processing_provider.request.io import build_inputs, build_outputs
from sagemaker_processing_provider.request.staging import Stager

log = logging.getLogger(__name__)

DEFAULT_COMMAND = ["python3"]


def build_sklearn_request(
    *,
    job_name: str,
    framework_version: str | None = None,
    image_uri: str | None = None,
    role: str,
    code: str,
    instance_type: str,
    instance_count: int = 1,
    inputs: list[dict] | None = None,
    outputs: list[dict] | None = None,
    arguments: list[str] | None = None,
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
    volume_size_in_gb: int = 30,
    volume_kms_key: str | None = None,
    output_kms_key: str | None = None,
    max_runtime_in_seconds: int | None = None,
    tags: dict[str, str] | list[dict[str, str]] | None = None,
    network_config: dict[str, Any] | None = None,
    region: str,
    stager: Stager,
    default_output_prefix: str | None = None,
) -> dict:
    """The request ``SKLearnProcessor(...).run(code, inputs, outputs, arguments)`` would send.

    ``image_uri`` wins over ``framework_version``; one of them is required.
    """
    precheck(
        job_name=job_name,
        role=role,
        instance_type=instance_type,
        instance_count=instance_count,
        volume_size_in_gb=volume_size_in_gb,
        max_runtime=max_runtime_in_seconds,
    )
    if image_uri:
        if framework_version:
            log.info("image_uri given: framework_version %s is not used to pick the image", framework_version)
    elif not framework_version:
        raise RequestError("framework_version", "required (e.g. '1.2-1'), or give image_uri instead")
    else:
        image_uri = sklearn_image_uri(framework_version, region, instance_type)
    entry = text_list(command, "command") if command else list(DEFAULT_COMMAND)
    user_inputs = build_inputs(inputs, stager=stager)
    code_entry, script = code_input(code, stager, "code")
    request_outputs = build_outputs(
        outputs,
        job_name=job_name,
        allow_local=stager.allow_local,
        default_output_prefix=default_output_prefix,
    )
    return assemble_request(
        job_name=job_name,
        image_uri=image_uri,
        entrypoint=[*entry, script],
        arguments=arguments,
        role=role,
        instance_type=instance_type,
        instance_count=instance_count,
        volume_size_in_gb=volume_size_in_gb,
        volume_kms_key=volume_kms_key,
        inputs=[*user_inputs, code_entry],
        outputs=request_outputs,
        output_kms_key=output_kms_key,
        env=environment(env),
        max_runtime_in_seconds=max_runtime_in_seconds,
        tags=tags,
        network_config=network_config,
    )
