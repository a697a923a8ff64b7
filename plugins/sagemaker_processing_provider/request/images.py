"""Image URIs of the scikit-learn and Spark processing containers.

Resolved with the SageMaker SDK v3's own table (``sagemaker.core.image_uris``) so the URIs stay the
SDK's. Importing it costs seconds (it pulls pandas, boto3 and the SDK's shapes), so DAG parsing never
pays it, and an answer is kept in a small on-disk cache keyed by the question and the SDK's version
(``$XDG_CACHE_HOME/sagemaker-processing-provider/image-uris.json``): a task asks the SDK only the first
time this machine sees a (framework, version, region, ...) combination. Refusals are not cached.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sagemaker_processing_provider import user_cache
from sagemaker_processing_provider.errors import RequestError

log = logging.getLogger(__name__)

# The SDK's ValueError messages start with these words; map each to the parameter to blame.
_FIELD_BY_MESSAGE = (
    ("Unsupported Python version", "py_version"),
    ("Unsupported processor", "instance_type"),
    ("Unsupported region", "region"),
    ("Unsupported container version", "container_version"),
)


def _field_for(message: str, default: str) -> str:
    for prefix, field in _FIELD_BY_MESSAGE:
        if message.startswith(prefix):
            return field
    return default


def _short(message: str) -> str:
    """Keep the SDK's diagnosis and its list of supported values; drop its "upgrade your SDK" advice."""
    head = message.split(" You may need to upgrade", 1)[0].rstrip(".")
    supported = re.search(r"Supported [^:]*:\s*(.*?)\.?$", message)
    return f"{head}; supported: {supported.group(1)}" if supported else head


def cache_file() -> Path:
    return user_cache.path("image-uris.json")


def _cache_key(framework: str, region: str, kwargs: dict[str, str | None]) -> str:
    try:
        sdk = version("sagemaker-core")
    except PackageNotFoundError:
        sdk = "?"
    return json.dumps([sdk, framework, region, sorted(kwargs.items())])


def _read_cache() -> dict[str, str]:
    try:
        data = json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(key: str, uri: str) -> None:
    user_cache.write(cache_file(), json.dumps({**_read_cache(), key: uri}, indent=1))


@functools.lru_cache(maxsize=64)
def _retrieve(framework: str, region: str, **kwargs: str | None) -> str:
    key = _cache_key(framework, region, kwargs)
    cached = _read_cache().get(key)
    if isinstance(cached, str) and cached:
        return cached
    from sagemaker.core import image_uris  # heavy: seconds to import

    uri = image_uris.retrieve(framework, region, **kwargs)
    _write_cache(key, uri)
    return uri


def _resolve(framework: str, region: str, **kwargs: str | None) -> str:
    if not isinstance(region, str) or not region:
        raise RequestError("region", f"expected an AWS region name such as 'us-east-1', got {region!r}")
    try:
        uri = _retrieve(framework, region, **kwargs)
    except ValueError as exc:
        raise RequestError(_field_for(str(exc), "framework_version"), _short(str(exc))) from exc
    log.info("Resolved %s image for %s: %s", framework, region, uri)
    return uri


def sklearn_image_uri(framework_version: str, region: str, instance_type: str | None = None) -> str:
    """The scikit-learn processing image (``sagemaker-scikit-learn:<version>-cpu-py3``)."""
    if not framework_version:
        raise RequestError(
            "framework_version", "required for scikit-learn (e.g. '1.2-1'), or give image_uri instead"
        )
    return _resolve("sklearn", region, version=str(framework_version), instance_type=instance_type)


def spark_image_uri(
    framework_version: str | None,
    region: str,
    py_version: str | None = None,
    container_version: str | None = None,
    instance_type: str | None = None,
) -> str:
    """The Spark processing image; no version means the SDK's latest (``3.5-cpu``).

    As in the SDK, ``py_version`` and ``container_version`` go together; ``container_version`` may be
    given as ``"1"`` (the SDK's form) or ``"v1"``.
    """
    if (py_version is None) != (container_version is None):
        field = "container_version" if container_version is None else "py_version"
        raise RequestError(field, "give both py_version and container_version, or neither")
    if container_version is not None:
        container_version = f"v{str(container_version).removeprefix('v')}"
    return _resolve(
        "spark",
        region,
        version=None if framework_version is None else str(framework_version),
        py_version=py_version,
        container_version=container_version,
        instance_type=instance_type,
    )
