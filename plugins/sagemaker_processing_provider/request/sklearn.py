"""``SKLearnProcessor``-style parameters -> a ``CreateProcessingJob`` request.

The SDK v3 removed ``SKLearnProcessor``; this rebuilds what v2's ``run()`` sent (reference §1.4):
the scikit-learn image for the region, ``python3 /opt/ml/processing/input/code/<script>``, the user
inputs followed by a ``code`` input, and outputs with the SDK's default names and locations.
"""

from __future__ import annotations

import logging

from sagemaker_processing_provider.errors import RequestError
from sagemaker_processing_provider.request import bundle
from sagemaker_processing_provider.request.common import (
    assemble_request,
    code_input,
    environment,
    precheck,
    text_list,
)
from sagemaker_processing_provider.request.images import sklearn_image_uri
from sagemaker_processing_provider.request.io import build_inputs, build_outputs
from sagemaker_processing_provider.request.params import SKLearnParams
from sagemaker_processing_provider.request.stager import BuildTarget

log = logging.getLogger(__name__)

DEFAULT_COMMAND = ["python3"]


def build_sklearn_request(p: SKLearnParams, target: BuildTarget) -> dict:
    """The request ``SKLearnProcessor(...).run(code, inputs, outputs, arguments)`` would send.

    ``image_uri`` wins over ``framework_version``; one of them is required. With ``source_dir`` or
    ``requirements``, the SDK ``FrameworkProcessor``'s bundle + ``runproc.sh`` (``request/bundle.py``).
    """
    precheck(p, target.job_name)
    image_uri = p.image_uri
    if image_uri:
        if p.framework_version:
            log.info(
                "image_uri given: framework_version %s is not used to pick the image", p.framework_version
            )
    elif not p.framework_version:
        raise RequestError("framework_version", "required (e.g. '1.2-1'), or give image_uri instead")
    else:
        image_uri = sklearn_image_uri(p.framework_version, target.region, p.instance_type)
    entry = text_list(p.command, "command") if p.command else list(DEFAULT_COMMAND)
    user_inputs = build_inputs(p.inputs, stager=target.stager)
    if bundle.wanted(p.source_dir, p.requirements):
        code = bundle.code_bundle(
            script=p.code,
            script_field="code",
            source_dir=p.source_dir,
            requirements=p.requirements,
            stager=target.stager,
            command=entry,
        )
        code_inputs, entrypoint = code.inputs, code.entrypoint
    else:
        code_entry, script = code_input(p.code, target.stager, "code")
        code_inputs, entrypoint = [code_entry], [*entry, script]
    return assemble_request(
        p,
        target,
        image_uri=image_uri,
        entrypoint=entrypoint,
        inputs=[*user_inputs, *code_inputs],
        outputs=build_outputs(p.outputs, target),
        env=environment(p.env),
    )
