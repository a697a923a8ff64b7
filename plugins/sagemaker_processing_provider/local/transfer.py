"""Locations, the S3 client and parallel transfers: what input staging and output publishing share.

A location is ``s3://bucket/key`` (any endpoint: boto3 honours ``AWS_ENDPOINT_URL``), ``file:///abs/path``
or a plain absolute path. boto3 is imported only when an S3 client is asked for, so a job with local
data only never pays for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from sagemaker_processing_provider.errors import StagingError

ML_ROOT = "/opt/ml/"
_WORKERS = 8  # parallel transfers: S3 latency, not CPU, is the bottleneck
# Below this a single GET/PUT is ~2x faster than s3transfer's managed transfer (its thread pool per
# call costs more than the object); above it the managed transfer's parallel parts win.
SMALL_OBJECT = 8 * 1024 * 1024


@dataclass(frozen=True)
class S3Loc:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


Location = S3Loc | Path


def parse_uri(uri: str, channel: str) -> Location:
    """``s3://`` -> S3Loc, ``file://`` or an absolute path -> Path; anything else is an error."""
    if not isinstance(uri, str) or not uri:
        raise StagingError(
            channel, repr(uri), "expected s3://bucket/key, file:///abs/path or an absolute path"
        )
    if uri.startswith("s3://"):
        bucket, _, key = uri[5:].partition("/")
        if not bucket:
            raise StagingError(channel, uri, "S3 URI without a bucket")
        return S3Loc(bucket, key)
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise StagingError(channel, uri, "file:// URIs must be local (file:///abs/path)")
        return Path(unquote(parsed.path))
    if os.path.isabs(uri):
        return Path(uri)
    raise StagingError(channel, uri, "expected s3://bucket/key, file:///abs/path or an absolute path")


def ml_subpath(host_ml: Path, local_path: str, channel: str) -> Path:
    """The host-side folder of a container ``LocalPath`` (``/opt/ml/x`` -> ``host_ml/x``)."""
    if not isinstance(local_path, str) or not local_path.startswith(ML_ROOT):
        raise StagingError(channel, str(local_path), f"LocalPath must start with {ML_ROOT}")
    return host_ml / safe_rel(local_path[len(ML_ROOT) :], channel, local_path)


def safe_rel(rel: str, channel: str, uri: str) -> str:
    """A relative path that cannot escape its folder (S3 keys may contain ``..`` or ``//``)."""
    parts = [p for p in rel.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise StagingError(channel, uri, f"path {rel!r} contains '.' or '..' components")
    return "/".join(parts)


def _s3_client() -> Any:
    import boto3  # lazy: local-only jobs never import it

    # Its own session: boto3's default session is not thread-safe and the runner may use it meanwhile.
    return boto3.session.Session().client("s3")


def lazy_s3_client() -> Callable[[], Any]:
    """One S3 client, created on the first call (so boto3 is imported only if S3 is used), then reused."""
    client: list[Any] = []

    def get() -> Any:
        if not client:
            client.append(_s3_client())
        return client[0]

    return get


def s3_error(channel: str, uri: str, exc: Exception) -> StagingError:
    """A botocore failure as a StagingError naming the channel, the URI and AWS's error code."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    return StagingError(channel, uri, f"S3 request failed ({code}): {exc}")


def upload_source(client: Any, root: Path, rel: str, bucket: str, key: str, channel: str) -> int | None:
    """Upload ``root/rel`` (a regular file reached without following symlinks) to S3; its size or None."""
    from sagemaker_processing_provider.local import safefs

    handle = safefs.open_file(root, rel)
    if handle is None:
        return None
    try:
        with handle:
            size = os.fstat(handle.fileno()).st_size
            if size < SMALL_OBJECT:
                client.put_object(Bucket=bucket, Key=key, Body=handle)
            else:
                client.upload_fileobj(handle, bucket, key)
    except Exception as exc:
        raise s3_error(channel, f"s3://{bucket}/{key}", exc) from exc
    return size


def fmt_bytes(n: int) -> str:
    """A size for a log line: human units plus the exact byte count."""
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f} {unit} ({n} bytes)"


def parallel(fn: Callable[[Any], Any], items: list) -> list:
    """``fn`` over ``items`` on up to 8 threads, results in order; the first error is raised."""
    if len(items) <= 1:
        return [fn(it) for it in items]
    pool = ThreadPoolExecutor(max_workers=min(_WORKERS, len(items)))
    try:
        return list(pool.map(fn, items))
    finally:  # on the first error, transfers not yet started are dropped
        pool.shutdown(wait=True, cancel_futures=True)
