"""Validate a CreateProcessingJob request before anything runs, so a rejected request leaves no job.

Used by both backends: the local engine validates every request it accepts, and the AWS backend
validates before it uploads anything (``local=False``: the service's own rules only, ``s3://``
URIs, no check of local runtimes). Two passes, as AWS does: botocore's client-side check of the ``sagemaker`` service model's input shape
(types, required members, minimums: ``ParamValidationError`` exactly as boto3 raises it), then the
server-side rules botocore leaves to SageMaker (maximums, enums, patterns from the same model, plus the
documented Processing rules; no NUL character anywhere, no ``true`` for a number), raised as
``ValidationException`` naming the field path. Features the local backend cannot honour (Pipe mode,
DatasetDefinition, FeatureStoreOutput) are rejected here too, with a message that says so, and so is
what it would only fail on later: an image without a local runtime, nested LocalPaths, ``.``/``..`` in
an S3 key, a ``file://`` input that does not exist, a local output into a system folder or a job store
(``local/destinations.py``). A job name is checked the same way on every call that takes one.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from sagemaker_processing_provider.api import shapes

OPERATION = "CreateProcessingJob"
NAME_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
PROCESSING_ROOT = "/opt/ml/processing/"
# Shapes whose model pattern the local backend widens (file:// and absolute local paths allowed).
LOCAL_URI_SHAPES = {"S3Uri"}


@cache
def service_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def input_shape(operation: str = OPERATION) -> Any:
    """The operation's input shape: the small cached copy (``shapes.py``) if usable, else botocore's."""
    cached = shapes.input_shapes()
    if cached is not None and operation in cached:
        return cached[operation]
    return service_model().operation_model(operation).input_shape


def validate_shape(request: dict[str, Any], operation: str = OPERATION) -> None:
    """botocore's own client-side validation; raises ``ParamValidationError`` like boto3.

    A request the cached shapes show valid skips botocore (its import and model load are most of a
    CLI call's time); any other goes to botocore, so what is accepted and every message stay its own.
    """
    shape = input_shape(operation)
    if isinstance(shape, shapes.Shape):
        if shapes.conforms(request, shape):
            return
        shape = service_model().operation_model(operation).input_shape
    from botocore.validate import validate_parameters

    validate_parameters(request, shape)


def _fail(message: str, field: str, operation: str = OPERATION) -> None:
    from sagemaker_processing_provider.api import client_errors  # botocore: only when refusing

    raise client_errors.ValidationException(f"1 validation error detected: {message}", operation, field=field)


def check_job_name(name: Any, operation: str) -> str:
    """A ProcessingJobName as SageMaker accepts it (so never a path: no ``/``, ``.`` or ``..``)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        _fail(
            f"Value {name!r} at 'processingJobName' failed to satisfy constraint: Member must satisfy "
            "regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
            "ProcessingJobName",
            operation,
        )
    return name


@cache
def _pattern(pattern: str) -> re.Pattern[str] | None:
    pattern = pattern.replace(r"\p{L}\p{Z}\p{N}", r"\w\s")  # Java's Unicode classes (Tags)
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _check_scalar(value: Any, shape: Any, path: str, operation: str, local: bool = True) -> None:
    meta = shape.metadata
    if shape.type_name in ("integer", "long") and isinstance(value, bool):
        _fail(
            f"Value '{value}' at '{path}' failed to satisfy constraint: Member must be a number",
            path,
            operation,
        )
    if isinstance(value, str) and "\0" in value:
        _fail(
            f"Value at '{path}' failed to satisfy constraint: Member must not contain NUL characters",
            path,
            operation,
        )
    if "enum" in meta and value not in meta["enum"]:
        _fail(
            f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy enum value "
            f"set: [{', '.join(meta['enum'])}]",
            path,
            operation,
        )
    if isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            _fail(f"Value at '{path}' failed to satisfy constraint: length <= {meta['max']}", path, operation)
        compiled = _pattern(meta["pattern"]) if "pattern" in meta else None
        widened = local and shape.name in LOCAL_URI_SHAPES
        if compiled and not widened and not compiled.fullmatch(value):
            _fail(
                f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy regular "
                f"expression pattern: {meta['pattern']}",
                path,
                operation,
            )
    elif isinstance(value, int) and not isinstance(value, bool) and "max" in meta and value > meta["max"]:
        _fail(f"Value '{value}' at '{path}' failed to satisfy constraint: <= {meta['max']}", path, operation)


def check_model_limits(
    value: Any, shape: Any, path: str, operation: str = OPERATION, local: bool = True
) -> None:
    """Walk the request along its shape, checking what botocore leaves to the server."""
    kind = shape.type_name
    if kind == "structure":
        for key, member in shape.members.items():
            if key in value:
                check_model_limits(value[key], member, f"{path}.{key}" if path else key, operation, local)
    elif kind == "list":
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            _fail(f"'{path}' must have at most {shape.metadata['max']} items", path, operation)
        for i, item in enumerate(value):
            check_model_limits(item, shape.member, f"{path}[{i}]", operation, local)
    elif kind == "map":
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            _fail(f"'{path}' must have at most {shape.metadata['max']} entries", path, operation)
        for key, item in value.items():
            check_model_limits(key, shape.key, f"{path}.key({key!r})", operation, local)
            check_model_limits(item, shape.value, f"{path}.{key}", operation, local)
    else:
        _check_scalar(value, shape, path, operation, local)


def _check_local_path(local_path: Any, field: str) -> None:
    if not isinstance(local_path, str) or not local_path:
        _fail(f"{field} is required: the folder under {PROCESSING_ROOT} where the job finds the data", field)
    normal = re.sub(r"/+", "/", local_path)
    if not normal.startswith(PROCESSING_ROOT) or normal.rstrip("/") == PROCESSING_ROOT.rstrip("/"):
        _fail(f"{field} '{local_path}' must be a path under {PROCESSING_ROOT}", field)
    if "/../" in normal + "/" or "/./" in normal + "/":
        _fail(f"{field} '{local_path}' must not contain '.' or '..' segments", field)


def _check_uri(uri: Any, field: str, local: bool) -> None:
    if not isinstance(uri, str) or not uri:
        _fail(f"{field} is required", field)
    if not local:
        return  # the model's S3Uri pattern (s3:// or https://) was checked with the shapes
    if uri.startswith("s3://"):
        if not re.fullmatch(r"s3://[^/]+(/.*)?", uri):
            _fail(f"{field} '{uri}' must be s3://bucket[/key]", field)
        if any(part in (".", "..") for part in uri[5:].split("/")[1:]):
            _fail(f"{field} '{uri}': an S3 key with '.' or '..' segments cannot map to a local folder", field)
    elif uri.startswith("file://"):
        if not uri[len("file://") :].startswith("/"):
            _fail(f"{field} '{uri}' must be file:///absolute/path", field)
    elif not uri.startswith("/"):
        _fail(
            f"{field} '{uri}' must be an s3:// URI (locally also file:///absolute/path or an absolute path)",
            field,
        )


def _local_target(uri: str) -> Any:
    """The local path a file:// or absolute URI names, or None for s3://."""
    from sagemaker_processing_provider.local.transfer import parse_uri

    if uri.startswith("s3://"):
        return None
    return parse_uri(uri, "-")


def _check_local_data(uri: str, field: str, home: Any, output: bool) -> None:
    """Local mode: an input is not a job store's (and, at the engine's create, exists); an output
    must be allowed there. Before the engine's create (``home`` None: the seam validates before the
    stager writes its generated files) a missing input is not an error yet."""
    from sagemaker_processing_provider.local import destinations

    path = _local_target(uri)
    if path is None:
        return
    if output:
        problem = destinations.output_problem(path, home)
    elif home is not None and not path.exists():
        problem = f"{uri} does not exist on this machine (the local backend refuses it before the job exists)"
    else:
        problem = destinations.input_problem(path, home)
    if problem:
        _fail(f"{field}: {problem}", field)


def _unsupported(field: str, what: str, local: bool) -> None:
    if local:
        _fail(f"{field}: the local backend does not support {what}; it runs on AWS SageMaker only", field)


def _check_inputs(inputs: list[dict[str, Any]], seen_paths: dict[str, str], local: bool, home: Any) -> None:
    names: set[str] = set()
    for i, item in enumerate(inputs):
        base = f"ProcessingInputs[{i}]"
        name = item["InputName"]
        if name in names:
            _fail(
                f"{base}.InputName '{name}' is used by more than one input; input names must be unique", base
            )
        names.add(name)
        if "DatasetDefinition" in item:
            _unsupported(f"{base}.DatasetDefinition", "DatasetDefinition inputs (Athena, Redshift)", local)
            continue
        s3 = item.get("S3Input")
        if not s3:
            _fail(f"{base} must have S3Input (or DatasetDefinition)", base)
        if item.get("AppManaged"):
            _unsupported(f"{base}.AppManaged", "AppManaged inputs", local)
        _check_uri(s3.get("S3Uri"), f"{base}.S3Input.S3Uri", local)
        if item.get("AppManaged") and "LocalPath" not in s3:
            continue  # AWS: an app-managed channel may leave LocalPath out (locally refused above)
        _check_local_path(s3.get("LocalPath"), f"{base}.S3Input.LocalPath")
        if s3.get("S3CompressionType", "None") == "Gzip" and s3.get("S3InputMode") != "Pipe":
            _fail(f"{base}.S3Input.S3CompressionType Gzip is only allowed with S3InputMode Pipe", base)
        if s3.get("S3InputMode") == "Pipe":
            _unsupported(f"{base}.S3Input.S3InputMode", "Pipe mode (use File)", local)
        _unique_path(s3["LocalPath"], f"{base}.S3Input.LocalPath", seen_paths, local)
        if local:
            _check_local_data(s3["S3Uri"], f"{base}.S3Input.S3Uri", home, output=False)


def _check_outputs(outputs: list[dict[str, Any]], seen_paths: dict[str, str], local: bool, home: Any) -> None:
    names: set[str] = set()
    for i, item in enumerate(outputs):
        base = f"ProcessingOutputConfig.Outputs[{i}]"
        name = item["OutputName"]
        if name in names:
            _fail(
                f"{base}.OutputName '{name}' is used by more than one output; output names must be unique",
                base,
            )
        names.add(name)
        if "FeatureStoreOutput" in item:
            _unsupported(f"{base}.FeatureStoreOutput", "FeatureStoreOutput", local)
            continue
        if item.get("AppManaged"):
            _unsupported(f"{base}.AppManaged", "AppManaged outputs", local)
        s3 = item.get("S3Output")
        if not s3:
            _fail(f"{base} must have S3Output (or FeatureStoreOutput)", base)
        _check_uri(s3.get("S3Uri"), f"{base}.S3Output.S3Uri", local)
        if item.get("AppManaged") and "LocalPath" not in s3:
            continue  # AWS: an app-managed channel may leave LocalPath out (locally refused above)
        _check_local_path(s3.get("LocalPath"), f"{base}.S3Output.LocalPath")
        _unique_path(s3["LocalPath"], f"{base}.S3Output.LocalPath", seen_paths, local)
        if local:
            _check_local_data(s3["S3Uri"], f"{base}.S3Output.S3Uri", home, output=True)


def _unique_path(local_path: str, field: str, seen: dict[str, str], local: bool) -> None:
    """LocalPaths are unique; locally none is inside another (one job's data would land in another's)."""
    key = re.sub(r"/+", "/", local_path).rstrip("/")
    if key in seen:
        _fail(f"{field} '{local_path}' is also used by {seen[key]}; LocalPaths must be unique", field)
    if local:
        for other, other_field in seen.items():
            if key.startswith(other + "/") or other.startswith(key + "/"):
                inner, outer = (field, other_field) if key.startswith(other + "/") else (other_field, field)
                _fail(f"{field} '{local_path}': the LocalPath of {inner} is inside that of {outer}", field)
    seen[key] = field


def check_processing_rules(request: dict[str, Any], local: bool = True, home: Any = None) -> None:
    """SageMaker's Processing rules that the service model cannot express (and, ``local``, ours)."""
    check_job_name(request["ProcessingJobName"], OPERATION)
    app = request["AppSpecification"]
    if not app.get("ImageUri"):
        _fail("AppSpecification.ImageUri must not be empty", "AppSpecification.ImageUri")
    if local:
        _check_image(app["ImageUri"])
    seen: dict[str, str] = {}
    _check_inputs(request.get("ProcessingInputs", []), seen, local, home)
    _check_outputs(request.get("ProcessingOutputConfig", {}).get("Outputs", []), seen, local, home)
    cluster = request["ProcessingResources"]["ClusterConfig"]
    if "InstancePreferences" in cluster:
        _unsupported("ProcessingResources.ClusterConfig.InstancePreferences", "InstancePreferences", local)
    if "InstanceCount" not in cluster:
        _fail("ProcessingResources.ClusterConfig.InstanceCount is required", "ProcessingResources")
    network = request.get("NetworkConfig", {})
    if network.get("VpcConfig"):
        _unsupported("NetworkConfig.VpcConfig", "VPC configuration", local)


def _check_image(image: str) -> None:
    """The image must map to a local runtime (``local/runtimes.py``)."""
    from sagemaker_processing_provider.errors import UnsupportedImageError
    from sagemaker_processing_provider.local import runtimes

    try:
        runtimes.resolve(image)
    except UnsupportedImageError as exc:
        _fail(f"AppSpecification.ImageUri: {exc}", "AppSpecification.ImageUri")


def validate_create_request(request: dict[str, Any], *, local: bool = True, home: Any = None) -> None:
    """Raise ParamValidationError / ValidationException if AWS (or, ``local``, the local engine) would.

    ``local`` also accepts ``file://`` URIs and absolute paths for data, and refuses what the local
    engine cannot honour (Pipe mode, DatasetDefinition, FeatureStoreOutput, VPC settings, an image
    without a local runtime) or would only fail on later; ``home``, the job store, is never a
    destination, and given (the engine's own create) every local input must exist.
    """
    validate_shape(request)
    check_model_limits(request, input_shape(), "", local=local)
    check_processing_rules(request, local=local, home=home)
