"""SDK-style inputs and outputs (plain dicts) -> ``ProcessingInputs`` / ``ProcessingOutputConfig`` entries.

Same defaults and naming as the SDK's ``ProcessingInput``/``ProcessingOutput`` (``input-1``,
``output-1``, ``S3Prefix``/``File``/``FullyReplicated``/``None``, ``EndOfJob``). Local sources go
through the stager; errors name the offending entry as ``inputs[0].source`` (0-based, as in Python).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

from sagemaker_processing_provider.errors import RequestError
from sagemaker_processing_provider.request.stager import BuildTarget, Stager

PROCESSING_ROOT = "/opt/ml/processing/"
MAX_CHANNELS = 10  # API limit on inputs and on outputs

INPUT_KEYS = {
    "source": None,
    "destination": None,
    "input_name": None,
    "s3_data_type": ("S3Prefix", ["S3Prefix", "ManifestFile"]),
    "s3_input_mode": ("File", ["File", "Pipe"]),
    "s3_data_distribution_type": ("FullyReplicated", ["FullyReplicated", "ShardedByS3Key"]),
    "s3_compression_type": ("None", ["None", "Gzip"]),
    "app_managed": None,
}
OUTPUT_KEYS = {
    "source": None,
    "destination": None,
    "output_name": None,
    "s3_upload_mode": ("EndOfJob", ["EndOfJob", "Continuous"]),
    "app_managed": None,
}
REMOTE_SCHEMES = ("s3", "https")

T = TypeVar("T")


def staged(field: str, fn: Callable[..., T], *args: Any) -> T:
    """Run a stager call; its ``ValueError``/``OSError`` becomes a ``RequestError`` naming the field."""
    try:
        return fn(*args)
    except (ValueError, OSError) as exc:
        raise RequestError(field, str(exc)) from exc


def local_path(uri: str | os.PathLike) -> Path | None:
    """The local path a source names (a plain path or ``file://``), or None for ``s3://``/``https://``."""
    text = os.fspath(uri)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme in REMOTE_SCHEMES or parsed.scheme == "s3a":
        return None
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter: a Windows drive
        raise ValueError(
            f"unsupported URI scheme {parsed.scheme!r} in {text!r}: use s3://, file:// or a path"
        )
    return Path(text)


def container_path(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.startswith(PROCESSING_ROOT) or value == PROCESSING_ROOT:
        raise RequestError(field, f"expected an absolute path under {PROCESSING_ROOT}, got {value!r}")
    return value


def s3_input(name: str, uri: str, destination: str, **options: Any) -> dict:
    """One ``ProcessingInputs`` entry as the SDK writes it (``AppManaged`` and all four S3 options)."""
    return {
        "InputName": name,
        "AppManaged": options.get("app_managed", False),
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": destination,
            "S3DataType": options.get("s3_data_type", "S3Prefix"),
            "S3InputMode": options.get("s3_input_mode", "File"),
            "S3DataDistributionType": options.get("s3_data_distribution_type", "FullyReplicated"),
            "S3CompressionType": options.get("s3_compression_type", "None"),
        },
    }


def s3_output(
    name: str, source: str, destination: str, upload_mode: str = "EndOfJob", app_managed: bool = False
):
    return {
        "OutputName": name,
        "AppManaged": app_managed,
        "S3Output": {"S3Uri": destination, "LocalPath": source, "S3UploadMode": upload_mode},
    }


def _entries(items: Any, field: str) -> list[Mapping]:
    if items is None:
        return []
    if isinstance(items, (Mapping, str)) or not isinstance(items, Sequence):
        raise RequestError(field, f"expected a list of dicts, got {type(items).__name__}")
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise RequestError(f"{field}[{i}]", f"expected a dict, got {type(item).__name__}")
    return list(items)


def _options(item: Mapping, allowed: dict, field: str) -> dict[str, Any]:
    """Check keys, enums and types; return the S3 options with the SDK's defaults filled in."""
    unknown = sorted(set(item) - set(allowed))
    if unknown:
        raise RequestError(f"{field}.{unknown[0]}", f"unknown key; expected some of {sorted(allowed)}")
    options: dict[str, Any] = {}
    for key, spec in allowed.items():
        if spec is None:
            continue
        default, choices = spec
        value = item.get(key, default)
        if value is None:
            value = default
        if value not in choices:
            raise RequestError(f"{field}.{key}", f"expected one of {choices}, got {value!r}")
        options[key] = value
    app_managed = item.get("app_managed", False)
    if not isinstance(app_managed, bool):
        raise RequestError(f"{field}.app_managed", f"expected true or false, got {app_managed!r}")
    options["app_managed"] = app_managed
    return options


def _name(item: Mapping, key: str, default: str, field: str) -> str:
    name = item.get(key)
    if name is None:
        return default
    if not isinstance(name, str) or not name.strip():
        raise RequestError(f"{field}.{key}", f"expected a non-empty string, got {name!r}")
    return name


def resolve_source(source: Any, stager: Stager, field: str) -> str:
    """An input source as a URI the job can read: remote URIs as is, local ones through the stager."""
    if not isinstance(source, (str, os.PathLike)) or not os.fspath(source):
        raise RequestError(field, f"expected an s3:// URI, a file:// URI or a local path, got {source!r}")
    path = staged(field, local_path, source)
    if path is None:
        text = os.fspath(source)
        if not urlparse(text).netloc or urlparse(text).scheme == "s3a":
            raise RequestError(field, f"expected s3://<bucket>/<key>, got {text!r}")
        return text
    path = path.expanduser()
    if path.is_file():
        return staged(field, stager.stage_file, path)
    if path.is_dir():
        return staged(field, stager.stage_dir, path)
    raise RequestError(field, f"local path {os.fspath(source)!r} does not exist")


def build_inputs(inputs: Any, *, stager: Stager, field: str = "inputs") -> list[dict]:
    """User inputs -> request entries; unnamed ones become ``input-<position>``."""
    result = []
    for i, item in enumerate(_entries(inputs, field)):
        where = f"{field}[{i}]"
        options = _options(item, INPUT_KEYS, where)
        if options["s3_compression_type"] == "Gzip" and options["s3_input_mode"] != "Pipe":
            raise RequestError(
                f"{where}.s3_compression_type", "Gzip is only allowed with s3_input_mode 'Pipe'"
            )
        uri = resolve_source(item.get("source"), stager, f"{where}.source")
        destination = container_path(item.get("destination"), f"{where}.destination")
        result.append(
            s3_input(_name(item, "input_name", f"input-{i + 1}", where), uri, destination, **options)
        )
    return result


def resolve_destination(
    destination: Any,
    *,
    name: str,
    job_name: str,
    default_output_prefix: str | None,
    allow_local: bool,
    field: str,
) -> str:
    """Where an output goes: as given, or the SDK's default ``<prefix>/<job>/output/<name>``."""
    if destination is None or destination == "":
        if not default_output_prefix:
            raise RequestError(field, "required: no default output location is configured")
        return f"{default_output_prefix.rstrip('/')}/{job_name}/output/{name}"
    if not isinstance(destination, (str, os.PathLike)):
        raise RequestError(field, f"expected an s3:// URI, got {destination!r}")
    path = staged(field, local_path, destination)
    if path is None:
        text = os.fspath(destination)
        if urlparse(text).scheme == "s3a" or not urlparse(text).netloc:
            raise RequestError(field, f"expected s3://<bucket>/<prefix>, got {text!r}")
        return text
    if not allow_local:
        raise RequestError(
            field, f"expected an s3:// URI on AWS, got the local path {os.fspath(destination)!r}"
        )
    return path.expanduser().resolve().as_uri()


def build_outputs(outputs: Any, target: BuildTarget, field: str = "outputs") -> list[dict]:
    """User outputs -> request entries; unnamed ones become ``output-<position>``."""
    result = []
    for i, item in enumerate(_entries(outputs, field)):
        where = f"{field}[{i}]"
        options = _options(item, OUTPUT_KEYS, where)
        name = _name(item, "output_name", f"output-{i + 1}", where)
        source = container_path(item.get("source"), f"{where}.source")
        destination = resolve_destination(
            item.get("destination"),
            name=name,
            job_name=target.job_name,
            default_output_prefix=target.default_output_prefix,
            allow_local=target.stager.allow_local,
            field=f"{where}.destination",
        )
        result.append(s3_output(name, source, destination, options["s3_upload_mode"], options["app_managed"]))
    return result


def check_channels(inputs: list[dict], outputs: list[dict]) -> None:
    """Names unique and counts within the API's limits (an extra channel may collide with a user's name)."""
    for entries, key, field in ((inputs, "InputName", "inputs"), (outputs, "OutputName", "outputs")):
        seen: set[str] = set()
        for entry in entries:
            if entry[key] in seen:
                raise RequestError(field, f"two entries named {entry[key]!r} (names must be unique)")
            seen.add(entry[key])
        if len(entries) > MAX_CHANNELS:
            raise RequestError(field, f"{len(entries)} entries, at most {MAX_CHANNELS} allowed by SageMaker")
