"""``PySparkProcessor`` / ``SparkJarProcessor``-style parameters -> a ``CreateProcessingJob`` request.

Rebuilt from the SDK's ``_SparkProcessorBase`` (reference §1.4 step 2 and §4): entrypoint
``smspark-submit`` with ``--class``, ``--py-files``, ``--jars``, ``--files``,
``--local-spark-event-logs-dir`` in that order and the app last; S3 deps passed through, local deps
(files **and folders**, which SDK v3 rejects, issue #6252) staged as the ``py-files``/``jars``/``files``
channels; ``configuration`` validated as ``_validate_configuration`` does and staged as
``conf/configuration.json``; inputs ordered as the SDK does: user inputs, deps channels, ``conf``,
``code``; the event-log output after the user's outputs. PySpark with ``source_dir``/``requirements``:
the ``code`` bundle and a ``runproc.sh`` that ends in this ``smspark-submit`` (``request/bundle.py``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sagemaker_processing_provider.errors import RequestError
from sagemaker_processing_provider.request import bundle
from sagemaker_processing_provider.request.common import assemble_request, code_input, environment, precheck
from sagemaker_processing_provider.request.images import spark_image_uri
from sagemaker_processing_provider.request.io import (
    build_inputs,
    build_outputs,
    local_path,
    resolve_destination,
    s3_input,
    s3_output,
    staged,
)
from sagemaker_processing_provider.request.params import PySparkParams, SparkJarParams, SparkParams
from sagemaker_processing_provider.request.stager import BuildTarget, Stager, channel_members

log = logging.getLogger(__name__)

COMMAND = "smspark-submit"
INPUT_BASE = "/opt/ml/processing/input/"
CONF_CHANNEL, CONF_FILE = "conf", "configuration.json"
EVENT_LOGS_DIR = "/opt/ml/processing/spark-events/"
CONFIGURATION_KEYS = ["Classification", "Properties", "Configurations"]
CLASSIFICATIONS = [
    "core-site", "hadoop-env", "hadoop-log4j", "hive-env", "hive-log4j", "hive-exec-log4j", "hive-site",
    "spark-defaults", "spark-env", "spark-log4j", "spark-hive-site", "spark-metrics", "yarn-env",
    "yarn-site", "export",
]  # fmt: skip
EMR_DOC = "https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-configure-apps.html"


def validate_configuration(configuration: Any, field: str = "configuration") -> None:
    """The SDK's ``_validate_configuration`` rules, with types checked and nested entries too.

    A dict needs ``Classification`` and ``Properties``, only the keys ``Classification``,
    ``Properties``, ``Configurations``, and a classification from ``CLASSIFICATIONS``; a list is a
    list of such dicts.
    """
    if isinstance(configuration, list):
        for i, item in enumerate(configuration):
            validate_configuration(item, f"{field}[{i}]")
        return
    if not isinstance(configuration, Mapping):
        raise RequestError(field, f"expected a dict or a list of EMR classifications ({EMR_DOC})")
    missing = [k for k in ("Classification", "Properties") if k not in configuration]
    if missing:
        raise RequestError(f"{field}.{missing[0]}", f"required in every classification ({EMR_DOC})")
    for key in configuration:
        if key not in CONFIGURATION_KEYS:
            raise RequestError(f"{field}.{key}", f"invalid key; must be one of {CONFIGURATION_KEYS}")
    if configuration["Classification"] not in CLASSIFICATIONS:
        raise RequestError(
            f"{field}.Classification",
            f"invalid classification {configuration['Classification']!r}; must be one of {CLASSIFICATIONS}",
        )
    properties = configuration["Properties"]
    if not isinstance(properties, Mapping) or not all(isinstance(k, str) for k in properties):
        raise RequestError(f"{field}.Properties", f"expected a dict of property -> value, got {properties!r}")
    nested = configuration.get("Configurations")
    if nested is not None:
        if not isinstance(nested, list):
            raise RequestError(f"{field}.Configurations", "expected a list of classifications")
        validate_configuration(nested, f"{field}.Configurations")


def _dep_list(deps: Any, field: str) -> list[str]:
    """A list of deps; a string is split on commas, as spark-submit reads ``--py-files a,b``."""
    if deps is None:
        return []
    if isinstance(deps, (str, os.PathLike)):
        deps = [d.strip() for d in os.fspath(deps).split(",") if d.strip()]
    if not isinstance(deps, Sequence):
        raise RequestError(field, f"expected a list of S3 URIs, local files or local folders, got {deps!r}")
    for i, dep in enumerate(deps):
        if not isinstance(dep, (str, os.PathLike)) or not os.fspath(dep):
            raise RequestError(
                f"{field}[{i}]", f"expected an S3 URI, a local file or a local folder, got {dep!r}"
            )
    return [os.fspath(d) for d in deps]


def stage_deps(deps: Any, channel: str, stager: Stager, field: str) -> tuple[dict | None, str | None]:
    """S3 deps stay as they are; local ones become one channel input. Returns (input, option value)."""
    remote: list[str] = []
    local: list[Path] = []
    for i, dep in enumerate(_dep_list(deps, field)):
        path = staged(f"{field}[{i}]", local_path, dep)
        if path is None:
            if urlparse(dep).scheme not in ("s3", "s3a"):
                raise RequestError(f"{field}[{i}]", f"expected an s3:// URI or a local path, got {dep!r}")
            remote.append(dep)
        elif path.expanduser().exists():
            local.append(path.expanduser())
        else:
            raise RequestError(f"{field}[{i}]", f"local path {dep!r} does not exist")
    if not local:
        return None, ",".join(remote) or None
    staged(field, channel_members, local)  # duplicate names or empty folders: fail before any upload
    uri = staged(field, stager.stage_channel, local, channel)
    destination = f"{INPUT_BASE}{channel}"
    return s3_input(channel, uri, destination), ",".join([*remote, destination])


def _event_logs_output(uri: Any, stager: Stager, job_name: str, position: int) -> dict:
    field = "spark_event_logs_s3_uri"
    if not stager.allow_local and not (isinstance(uri, str) and urlparse(uri).scheme == "s3"):
        raise RequestError(
            field, f"invalid S3 path {uri!r}; expected something like s3://bucket-name/folder-name"
        )
    destination = resolve_destination(
        uri,
        name="",
        job_name=job_name,
        default_output_prefix=None,
        allow_local=stager.allow_local,
        field=field,
    )
    return s3_output(f"output-{position}", EVENT_LOGS_DIR, destination, "Continuous")


def build_spark_request(p: SparkParams, target: BuildTarget) -> dict:
    """The request the SDK's ``PySparkProcessor``/``SparkJarProcessor`` ``run()`` would send.

    Which one follows from ``p``: ``PySparkParams`` (with ``--py-files``) or ``SparkJarParams``
    (``--class``). Local dependency files **and folders** are allowed (SDK v3 rejects them).
    """
    precheck(p, target.job_name)
    if not p.submit_app:
        raise RequestError("submit_app", "required: the .py or .jar file Spark runs")
    options: list[str] = []
    deps = [("jars", p.submit_jars, "submit_jars"), ("files", p.submit_files, "submit_files")]
    if isinstance(p, SparkJarParams):
        if not isinstance(p.submit_class, str) or not p.submit_class.strip():
            raise RequestError("submit_class", "required: the main class of the jar, e.g. 'com.example.Main'")
        options += ["--class", p.submit_class]
    if isinstance(p, PySparkParams):
        deps.insert(0, ("py-files", p.submit_py_files, "submit_py_files"))
    if p.configuration:
        validate_configuration(p.configuration)
    image_uri = p.image_uri or spark_image_uri(
        p.framework_version, target.region, p.py_version, p.container_version, p.instance_type
    )
    stager = target.stager
    request_inputs = build_inputs(p.inputs, stager=stager)
    for channel, value, field in deps:
        channel_input, option = stage_deps(value, channel, stager, field)
        if option:
            options += [f"--{channel}", option]
        if channel_input:
            request_inputs.append(channel_input)
    request_outputs = build_outputs(p.outputs, target)
    if p.spark_event_logs_s3_uri:
        options += ["--local-spark-event-logs-dir", EVENT_LOGS_DIR]
        position = len(request_outputs) + 1
        request_outputs.append(
            _event_logs_output(p.spark_event_logs_s3_uri, stager, target.job_name, position)
        )
    if p.configuration:
        data = json.dumps(p.configuration).encode("utf-8")
        uri = staged("configuration", stager.stage_bytes, data, CONF_FILE)
        request_inputs.append(s3_input(CONF_CHANNEL, uri, f"{INPUT_BASE}{CONF_CHANNEL}"))
    if isinstance(p, PySparkParams) and bundle.wanted(p.source_dir, p.requirements):
        code = bundle.code_bundle(
            script=p.submit_app,
            script_field="submit_app",
            source_dir=p.source_dir,
            requirements=p.requirements,
            stager=stager,
            command=[COMMAND, *options],
            spark=True,
        )
        request_inputs += code.inputs
        entrypoint = code.entrypoint
    else:
        code_entry, app_path = code_input(p.submit_app, stager, "submit_app")
        request_inputs.append(code_entry)
        entrypoint = [COMMAND, *options, app_path]
    return assemble_request(
        p,
        target,
        image_uri=image_uri,
        entrypoint=entrypoint,
        inputs=request_inputs,
        outputs=request_outputs,
        env=environment(p.env if p.env is not None else {}),
    )
