"""The request assembly shared by the three processors (SDK v2 ``_get_process_request`` order).

Fields that are empty are left out, as the SDK does, except ``Environment`` which is kept when given
(the Spark processors always send ``{}``). Values that Airflow templating turns into strings
(``"2"`` for an instance count) are accepted where the meaning is unambiguous.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sagemaker_processing_provider.errors import RequestError
from sagemaker_processing_provider.request.io import check_channels, local_path, s3_input, staged
from sagemaker_processing_provider.request.names import validate_job_name
from sagemaker_processing_provider.request.params import ProcessorParams
from sagemaker_processing_provider.request.stager import BuildTarget, Stager

CODE_DIR = "/opt/ml/processing/input/code"
ROLE_PATTERN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
ENV_KEY_PATTERN = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# The service model's ProcessingInstanceType is an enum; this is its shape, checked before any upload.
INSTANCE_TYPE_PATTERN = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
NETWORK_KEYS = (
    "enable_network_isolation",
    "security_group_ids",
    "subnets",
    "encrypt_inter_container_traffic",
)


def as_int(value: Any, field: str, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer from an int or a string of digits (templated fields render to strings)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < minimum
        or (maximum and value > maximum)
    ):
        bounds = f">= {minimum}" + (f" and <= {maximum}" if maximum else "")
        raise RequestError(field, f"expected an integer {bounds}, got {value!r}")
    return value


def as_text(value: Any, field: str) -> str:
    """Strings as is, numbers as their text (``["--ratio", 0.7]`` is what users write); nothing else."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RequestError(field, f"expected a string, got {type(value).__name__} {value!r}")


def text_list(values: Any, field: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise RequestError(field, f"expected a list of strings, got {type(values).__name__}")
    return [as_text(v, f"{field}[{i}]") for i, v in enumerate(values)]


def role_arn(role: Any) -> str:
    if not isinstance(role, str) or not ROLE_PATTERN.match(role):
        raise RequestError(
            "role", f"expected an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>), got {role!r}"
        )
    return role


def environment(env: Any) -> dict[str, str] | None:
    if env is None:
        return None
    if not isinstance(env, Mapping):
        raise RequestError("env", f"expected a dict of variable -> value, got {type(env).__name__}")
    for key in env:
        if not isinstance(key, str) or not ENV_KEY_PATTERN.match(key):
            raise RequestError(f"env[{key!r}]", "variable names must match [a-zA-Z_][a-zA-Z0-9_]*")
    if len(env) > 100:
        raise RequestError("env", f"{len(env)} variables, at most 100 allowed by SageMaker")
    return {k: as_text(v, f"env[{k!r}]") for k, v in env.items()}


def tag_list(tags: Any) -> list[dict[str, str]]:
    """Tags from ``{"k": "v"}`` or ``[{"Key": "k", "Value": "v"}]`` (the SDK's ``format_tags``)."""
    if not tags:
        return []
    if isinstance(tags, Mapping):
        tags = [{"Key": k, "Value": v} for k, v in tags.items()]
    if isinstance(tags, str) or not isinstance(tags, Sequence):
        raise RequestError(
            "tags", f"expected a dict or a list of {{'Key', 'Value'}}, got {type(tags).__name__}"
        )
    result = []
    for i, tag in enumerate(tags):
        if not isinstance(tag, Mapping) or set(tag) != {"Key", "Value"}:
            raise RequestError(f"tags[{i}]", f"expected {{'Key': ..., 'Value': ...}}, got {tag!r}")
        key = tag["Key"]
        if not isinstance(key, str) or not key:
            raise RequestError(f"tags[{i}].Key", f"expected a non-empty string, got {key!r}")
        result.append({"Key": key, "Value": as_text(tag["Value"], f"tags[{i}].Value")})
    return result


def network(config: Any) -> dict | None:
    """``NetworkConfig`` from the SDK's words, as the SDK's ``NetworkConfig._to_request_dict``."""
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise RequestError("network_config", f"expected a dict with keys {NETWORK_KEYS}, got {config!r}")
    unknown = sorted(set(config) - set(NETWORK_KEYS))
    if unknown:
        raise RequestError(
            f"network_config.{unknown[0]}", f"unknown key; expected some of {list(NETWORK_KEYS)}"
        )
    request: dict[str, Any] = {"EnableNetworkIsolation": _flag(config, "enable_network_isolation") or False}
    encrypt = _flag(config, "encrypt_inter_container_traffic")
    if encrypt is not None:
        request["EnableInterContainerTrafficEncryption"] = encrypt
    groups, subnets = config.get("security_group_ids"), config.get("subnets")
    if groups is not None or subnets is not None:
        if not groups or not subnets:
            raise RequestError("network_config", "a VPC needs both security_group_ids and subnets")
        request["VpcConfig"] = {
            "SecurityGroupIds": text_list(groups, "network_config.security_group_ids"),
            "Subnets": text_list(subnets, "network_config.subnets"),
        }
    return request


def _flag(config: Mapping, key: str) -> bool | None:
    value = config.get(key)
    if value is not None and not isinstance(value, bool):
        raise RequestError(f"network_config.{key}", f"expected true or false, got {value!r}")
    return value


def code_input(code: Any, stager: Stager, field: str) -> tuple[dict, str]:
    """The ``code`` input and the script's path in the container (the SDK's ``_include_code_in_inputs``).

    An ``s3://`` URI is used as is; a local file goes through the stager; a folder is refused (the
    entrypoint names one file).
    """
    if not isinstance(code, (str, os.PathLike)) or not os.fspath(code):
        raise RequestError(field, f"expected an s3:// URI or a local file, got {code!r}")
    text = os.fspath(code)
    path = staged(field, local_path, text)
    if path is None:
        if not text.startswith("s3://") or text.endswith("/"):
            raise RequestError(field, f"expected s3://<bucket>/<key of one file>, got {text!r}")
        uri, basename = text, text.rsplit("/", 1)[-1]
    else:
        path = path.expanduser()
        if not path.is_file():
            what = "a folder" if path.is_dir() else "missing"
            raise RequestError(field, f"{text!r} is {what}; expected one file (the script or jar to run)")
        uri, basename = staged(field, stager.stage_file, path), path.name
    return s3_input("code", uri, CODE_DIR), f"{CODE_DIR}/{basename}"


def precheck(p: ProcessorParams, job_name: str) -> None:
    """The cheap checks, done before anything is staged."""
    validate_job_name(job_name)
    role_arn(p.role)
    _instance_type(p.instance_type)
    as_int(p.instance_count, "instance_count", 1, 100)
    as_int(p.volume_size_in_gb, "volume_size_in_gb", 1, 16384)
    if p.max_runtime_in_seconds is not None:
        as_int(p.max_runtime_in_seconds, "max_runtime_in_seconds", 1, 777600)


def _instance_type(value: Any) -> str:
    if not isinstance(value, str) or not INSTANCE_TYPE_PATTERN.match(value):
        raise RequestError(
            "instance_type", f"expected an instance type such as 'ml.m5.xlarge', got {value!r}"
        )
    return value


def assemble_request(
    p: ProcessorParams,
    target: BuildTarget,
    *,
    image_uri: str,
    entrypoint: list[str],
    inputs: list[dict],
    outputs: list[dict],
    env: dict[str, str] | None,
) -> dict:
    """The ``CreateProcessingJob`` request, in the SDK's field order, empty fields left out."""
    if not isinstance(image_uri, str) or not image_uri:
        raise RequestError("image_uri", f"expected a container image URI, got {image_uri!r}")
    check_channels(inputs, outputs)
    cluster: dict[str, Any] = {
        "InstanceType": _instance_type(p.instance_type),
        "InstanceCount": as_int(p.instance_count, "instance_count", 1, 100),
        "VolumeSizeInGB": as_int(p.volume_size_in_gb, "volume_size_in_gb", 1, 16384),
    }
    if p.volume_kms_key:
        cluster["VolumeKmsKeyId"] = p.volume_kms_key
    app: dict[str, Any] = {"ImageUri": image_uri, "ContainerEntrypoint": entrypoint}
    if p.arguments:
        app["ContainerArguments"] = text_list(p.arguments, "arguments")
    request: dict[str, Any] = {
        "ProcessingJobName": validate_job_name(target.job_name),
        "ProcessingResources": {"ClusterConfig": cluster},
        "AppSpecification": app,
        "RoleArn": role_arn(p.role),
    }
    if inputs:
        request["ProcessingInputs"] = inputs
    if outputs:
        request["ProcessingOutputConfig"] = {"Outputs": outputs}
        if p.output_kms_key:
            request["ProcessingOutputConfig"]["KmsKeyId"] = p.output_kms_key
    if env is not None:
        request["Environment"] = env
    net = network(p.network_config)
    if net is not None:
        request["NetworkConfig"] = net
    if p.max_runtime_in_seconds is not None:
        seconds = as_int(p.max_runtime_in_seconds, "max_runtime_in_seconds", 1, 777600)
        request["StoppingCondition"] = {"MaxRuntimeInSeconds": seconds}
    tag_entries = tag_list(p.tags)
    if tag_entries:
        request["Tags"] = tag_entries
    return request
