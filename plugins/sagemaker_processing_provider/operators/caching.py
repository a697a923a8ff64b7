"""Step caching in the operator: ``cache_config`` (SageMaker Pipelines' ``CacheConfig``), lookup, record.

``cache_config={"enabled": True, "expire_after": "P30D"}``: before creating a job, the operator asks
the backend for the request's cache key and for the newest reusable Completed job with that key
(``backends/cache.py`` says what the key covers and which jobs are reusable). A hit returns that
job's result (XCom ``cache_hit: true``, ``cached_job``) and starts nothing; a miss tags the new job
with the key. When a job completes under caching, the operator records its outputs' fingerprint on
it, so that a later hit can prove the outputs are still what the job wrote.

``expire_after`` is an ISO 8601 duration (``P30D``, ``PT12H``, ``P1Y2M``, ``P2W``; the leading ``P``
may be left out, as Pipelines' own examples do: ``30d``, ``T16m``); without it a result never expires.
``backends/cache.py`` is imported only when a task runs (DAG parsing stays light).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sagemaker_processing_provider.errors import RequestError

if TYPE_CHECKING:
    from sagemaker_processing_provider.backends.base import ProcessingBackend
    from sagemaker_processing_provider.request.stager import Stager

_DURATION = re.compile(
    r"^P?(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CachePolicy:
    enabled: bool = False
    expire_after: str | None = None

    def not_before(self, now: datetime | None = None) -> datetime | None:
        """The oldest end time a reusable job may have (``None``: no limit)."""
        if self.expire_after is None:
            return None
        return (now or datetime.now(UTC)) - parse_duration(self.expire_after)


def parse_duration(text: str, field: str = "cache_config.expire_after") -> Any:
    """An ISO 8601 duration as a ``relativedelta`` (calendar years and months, as Pipelines)."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    parts = match.groupdict() if match else {}
    if not match or not any(parts.values()) or text.strip().upper().endswith("T"):
        raise RequestError(field, f"expected an ISO 8601 duration such as 'P30D' or 'PT12H', got {text!r}")
    from dateutil.relativedelta import relativedelta

    seconds = float(parts.pop("seconds") or 0)
    return relativedelta(seconds=seconds, **{k: int(v or 0) for k, v in parts.items()})


def policy(config: Any) -> CachePolicy:
    """``cache_config`` checked: ``None`` or ``{"enabled": bool, "expire_after": duration}``."""
    if config is None:
        return CachePolicy()
    if not isinstance(config, dict):
        raise RequestError(
            "cache_config", f'expected {{"enabled": true, "expire_after": "P30D"}}, got {config!r}'
        )
    unknown = sorted(set(config) - {"enabled", "expire_after"})
    if unknown:
        raise RequestError(f"cache_config.{unknown[0]}", "unknown key; expected 'enabled' and 'expire_after'")
    enabled = config.get("enabled", False)
    if isinstance(enabled, str) and enabled.strip().lower() in ("true", "false"):
        enabled = enabled.strip().lower() == "true"  # a templated value renders to a string
    if not isinstance(enabled, bool):
        raise RequestError("cache_config.enabled", f"expected true or false, got {enabled!r}")
    expire = config.get("expire_after")
    if expire is not None:
        parse_duration(expire)
    return CachePolicy(enabled, expire)


def name_prefix(job_name: str) -> str:
    """``<base>-<12 hex>-t<try>`` -> ``<base>-``: the jobs of this task's kind (``request/names.py``)."""
    return job_name.rsplit("-", 2)[0] + "-"


def lookup(
    backend: ProcessingBackend, request: dict, stager: Stager, rule: CachePolicy, log: logging.Logger
) -> tuple[str | None, dict | None]:
    """``(key, earlier job's description)`` on a hit, ``(key, None)`` on a miss, ``(None, None)`` uncacheable."""
    from sagemaker_processing_provider.backends.cache import Uncacheable

    try:
        key = backend.cache_key(request, stager)
    except Uncacheable as exc:
        log.warning("Step caching skipped: %s", exc)
        return None, None
    not_before = rule.not_before()
    window = f"since {not_before:%Y-%m-%d %H:%M:%S} UTC" if not_before else "without expiry"
    try:
        found = backend.find_cached(key, not_before, name_prefix(request["ProcessingJobName"]))
    except Exception as exc:  # caching saves work; a lookup that fails (throttled, no ListTags) costs a run
        log.warning("Step cache lookup failed (%s: %s); running the job", type(exc).__name__, exc)
        return key, None
    if found is None:
        log.info("Step cache MISS (key %s): no reusable Completed job %s; running the job", key, window)
        return key, None
    log.info(
        "Step cache HIT (key %s): reusing processing job %s, Completed %s (expire_after %s); NO new job "
        "is started. Its outputs: %s",
        key,
        found["ProcessingJobName"],
        found.get("ProcessingEndTime"),
        rule.expire_after or "none",
        {o["OutputName"]: o["S3Output"]["S3Uri"] for o in _outputs(found)},
    )
    return key, found


def tag_request(request: dict, key: str) -> None:
    """Mark the new job with its cache key (the lookup of later runs finds it by this tag)."""
    from sagemaker_processing_provider.backends.cache import KEY_TAG

    tags = [t for t in request.get("Tags", []) if t["Key"] != KEY_TAG]
    request["Tags"] = [*tags, {"Key": KEY_TAG, "Value": key}]


def record_outputs(backend: ProcessingBackend, description: dict, log: logging.Logger) -> None:
    """After a Completed job: tag it with its outputs' fingerprint; a failure only costs later hits."""
    from sagemaker_processing_provider.backends.cache import OUTPUTS_TAG

    name = description["ProcessingJobName"]
    try:
        backend.tag_job(name, {OUTPUTS_TAG: backend.outputs_fingerprint(description)})
    except Exception as exc:
        log.warning(
            "Could not record the outputs of %s for step caching (%s); it will not be reused", name, exc
        )


def _outputs(description: dict) -> list[dict]:
    outputs = description.get("ProcessingOutputConfig", {}).get("Outputs", [])
    return [o for o in outputs if "S3Output" in o]
