"""Inputs onto a local job's disk, with SageMaker's rules.

Sources are ``s3://bucket/key``, ``file:///abs/path`` or a plain absolute path (see
:mod:`.transfer`). Local data is always copied, never moved or linked, so a script cannot change the
user's files. ``S3Prefix`` matches every key starting with the prefix string; ``ManifestFile`` reads
``[{"prefix": ...}, "rel/key", ...]``; ``ShardedByS3Key`` gives host i the sorted keys whose index
modulo the host count is i.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagemaker_processing_provider.errors import StagingError
from sagemaker_processing_provider.local.destinations import input_problem
from sagemaker_processing_provider.local.transfer import (
    SMALL_OBJECT,
    Location,
    S3Loc,
    fmt_bytes,
    lazy_s3_client,
    ml_subpath,
    parallel,
    parse_uri,
    s3_error,
    safe_rel,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Item:
    """One file to stage: ``order`` sorts it for sharding, ``rel`` is its path under LocalPath."""

    order: str
    rel: str
    src: Location
    size: int | None = None  # known from an S3 listing
    etag: str | None = None  # known from an S3 listing


def stage_inputs(
    inputs: list[dict], host_ml: Path, host_index: int, host_count: int, home: Path | None = None
) -> None:
    """Copy every ``ProcessingInputs`` entry into ``host_ml`` (``host_index`` is 0-based).

    ``home`` is the job store: a local source inside it (another job's files) is refused.
    """
    if not 0 <= host_index < host_count:
        raise ValueError(f"host_index must be in [0, {host_count}), got {host_index}")
    s3 = lazy_s3_client()  # one client shared by all inputs, created only if one is on S3
    for entry in inputs:
        _stage_one(entry, host_ml, host_index, host_count, s3, home)


def _stage_one(
    entry: dict, host_ml: Path, host_index: int, host_count: int, s3: Callable[[], Any], home: Path | None
) -> None:
    name = entry.get("InputName", "?")
    channel = f"input {name!r}"
    spec = entry.get("S3Input")
    if not isinstance(spec, dict):
        raise StagingError(
            channel, "-", "only S3Input is supported by the local backend (not DatasetDefinition)"
        )
    uri = spec.get("S3Uri", "")
    _check_modes(spec, channel, uri)
    dest = ml_subpath(host_ml, spec.get("LocalPath", ""), channel)
    items = source_items(spec, channel, s3, home)
    if not items:
        raise StagingError(
            channel,
            uri,
            "no objects or files found at this source (SageMaker fails such a job with ClientError)",
        )
    sharded = spec.get("S3DataDistributionType", "FullyReplicated") == "ShardedByS3Key"
    if sharded:
        items = sorted(items, key=lambda it: it.order)[host_index::host_count]
    _check_unique(items, channel, uri)
    dest.mkdir(parents=True, exist_ok=True)
    if any(isinstance(it.src, S3Loc) for it in items):
        s3()  # create the client before the worker threads: boto3's client creation is not thread-safe
    sizes = parallel(lambda it: _fetch(it, dest / it.rel, channel, s3), items)
    shard = f", shard {host_index + 1}/{host_count}" if sharded else ""
    logger.info(
        "Staged input %r from %s to %s: %d files, %s%s",
        name,
        uri,
        spec.get("LocalPath"),
        len(items),
        fmt_bytes(sum(sizes)),
        shard,
    )


def source_items(spec: dict, channel: str, s3: Callable[[], Any], home: Path | None = None) -> list[_Item]:
    """The files an ``S3Input`` names (all hosts' shards): a prefix's objects, a manifest's, local files.

    ``home`` is the job store: a local source inside it (another job's files) is refused.
    """
    uri = spec.get("S3Uri", "")
    src = parse_uri(uri, channel)
    if not isinstance(src, S3Loc) and (problem := input_problem(src, home)):
        raise StagingError(channel, uri, problem)
    if spec.get("S3DataType", "S3Prefix") == "ManifestFile":
        return _manifest_items(src, channel, uri, s3, home)
    if isinstance(src, S3Loc):
        return _s3_prefix_items(src, channel, uri, s3)
    return _local_items(src, channel, uri)


# Pipe mode and Gzip (Pipe-only on SageMaker) would need named pipes fed while the script runs.
_SUPPORTED_INPUT_MODES = {
    "S3InputMode": ("File",),
    "S3CompressionType": ("None",),
    "S3DataType": ("S3Prefix", "ManifestFile"),
    "S3DataDistributionType": ("FullyReplicated", "ShardedByS3Key"),
}


def _check_modes(spec: dict, channel: str, uri: str) -> None:
    for field, allowed in _SUPPORTED_INPUT_MODES.items():
        value = spec.get(field, allowed[0])
        if value not in allowed:
            raise StagingError(
                channel, uri, f"{field}={value!r} is not supported locally; expected one of {allowed}"
            )


def _rel_for_prefix(prefix: str, key: str) -> str:
    """Where SageMaker puts ``key`` matched by ``prefix``.

    A prefix ending at a folder boundary (``p/``, or ``p`` matching ``p/x``) drops it; a key equal to
    the prefix keeps its basename; a partial match (``data/train`` -> ``data/train-a.csv``) keeps the
    path relative to the prefix's folder (``train-a.csv``), as SageMaker does (sagemaker-python-sdk#3612).
    """
    if not prefix or prefix.endswith("/"):
        return key[len(prefix) :]
    if key == prefix:
        return key.rsplit("/", 1)[-1]
    if key[len(prefix)] == "/":
        return key[len(prefix) + 1 :]
    folder = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    return key[len(folder) :]


def _s3_prefix_items(loc: S3Loc, channel: str, uri: str, s3: Callable[[], Any]) -> list[_Item]:
    items = []
    try:
        for page in s3().get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=loc.key):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if not key.endswith("/"):  # zero-byte "folder" markers are not files
                    rel = safe_rel(_rel_for_prefix(loc.key, key), channel, uri)
                    items.append(_Item(key, rel, S3Loc(loc.bucket, key), obj.get("Size"), obj.get("ETag")))
    except StagingError:
        raise
    except Exception as exc:
        raise s3_error(channel, uri, exc) from exc
    return items


def _local_items(path: Path, channel: str, uri: str) -> list[_Item]:
    """A file -> itself; a folder -> every file below it (symlinked files copied, linked folders skipped)."""
    if path.is_file():
        return [_Item(path.name, path.name, path)]
    if not path.is_dir():
        raise StagingError(channel, uri, "source does not exist (or is not a file or folder)")
    items = []
    for root, dirs, files in os.walk(path):
        for d in dirs:
            if os.path.islink(os.path.join(root, d)):
                logger.warning("%s: skipping symlinked folder %s", channel, os.path.join(root, d))
        for f in files:
            full = Path(root, f)
            if full.is_file():
                rel = full.relative_to(path).as_posix()
                items.append(_Item(rel, rel, full))
            else:
                logger.warning("%s: skipping %s (broken symlink or not a regular file)", channel, full)
    return items


def _manifest_items(
    src: Location, channel: str, uri: str, s3: Callable[[], Any], home: Path | None = None
) -> list[_Item]:
    """``[{"prefix": P}, "rel1", ...]`` -> the files ``P + rel``, each landing at ``rel``."""
    try:
        if isinstance(src, S3Loc):
            text = s3().get_object(Bucket=src.bucket, Key=src.key)["Body"].read()
        else:
            text = src.read_bytes()
        manifest = json.loads(text)
    except OSError as exc:
        raise StagingError(channel, uri, f"cannot read the manifest: {exc}") from exc
    except ValueError as exc:
        raise StagingError(channel, uri, f"the manifest is not valid JSON: {exc}") from exc
    except Exception as exc:
        raise s3_error(channel, uri, exc) from exc
    ok = isinstance(manifest, list) and manifest and isinstance(manifest[0], dict)
    if (
        not ok
        or not isinstance(manifest[0].get("prefix"), str)
        or not all(isinstance(r, str) for r in manifest[1:])
    ):
        raise StagingError(
            channel, uri, 'expected a manifest [{"prefix": "s3://bucket/prefix/"}, "rel/key", ...]'
        )
    prefix = manifest[0]["prefix"]
    base = parse_uri(prefix, f"{channel} manifest prefix")
    if not isinstance(base, S3Loc) and (problem := input_problem(base, home)):
        raise StagingError(channel, prefix, problem)
    items = []
    for rel in manifest[1:]:
        safe = safe_rel(rel, channel, uri)
        if isinstance(base, S3Loc):
            key = base.key + rel
            items.append(_Item(key, safe, S3Loc(base.bucket, key)))
        else:  # SageMaker concatenates the strings: "/d/p" + "x" is "/d/px"
            full = Path(base, rel) if prefix.endswith("/") else Path(str(base) + rel)
            items.append(_Item(str(full), safe, full))
    return items


def _check_unique(items: Iterable[_Item], channel: str, uri: str) -> None:
    """Two sources landing on one path (or a file where a folder goes) would silently lose data."""
    seen: set[str] = set()
    folders: set[str] = set()
    for it in items:
        if it.rel in seen or it.rel in folders:
            raise StagingError(channel, uri, f"two sources map to the same local path {it.rel!r}")
        seen.add(it.rel)
        parts = it.rel.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = seen & folders
    if clash:
        raise StagingError(channel, uri, f"{sorted(clash)[0]!r} is both a file and a folder")


def _fetch(item: _Item, target: Path, channel: str, s3: Callable[[], Any]) -> int:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not isinstance(item.src, S3Loc):
            shutil.copyfile(item.src, target)  # a copy (never a link): the script cannot touch the source
        elif item.size is not None and item.size < SMALL_OBJECT:
            body = s3().get_object(Bucket=item.src.bucket, Key=item.src.key)["Body"]
            with open(target, "wb") as handle:
                shutil.copyfileobj(body, handle)
        else:
            s3().download_file(item.src.bucket, item.src.key, str(target))
        return target.stat().st_size
    except OSError as exc:
        raise StagingError(channel, str(item.src), f"cannot copy to {target}: {exc}") from exc
    except Exception as exc:
        raise s3_error(channel, str(item.src), exc) from exc
