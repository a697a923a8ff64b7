"""Step caching on both backends: a request's cache key, its outputs' fingerprint, the earlier job to reuse.

**Key** (sha256): what decides a job's result.

- ``AppSpecification``, ``Environment``, ``ProcessingInputs`` (what SageMaker Pipelines compares for a
  processing step), plus ``ProcessingOutputConfig`` and the cluster's ``InstanceType``/``InstanceCount``
  (a hit must leave the outputs where this task asked for them; Spark's partitioning and sharded
  inputs depend on the cluster). The job's own name is replaced by ``{job}`` wherever it appears, so
  SDK-default destinations (``<prefix>/<job>/output/<name>``) still match.
- Left out, as per-run or not changing the result: ``ProcessingJobName``, ``Tags``, ``RoleArn``,
  ``StoppingCondition``, ``NetworkConfig``, ``VolumeSizeInGB``, ``VolumeKmsKeyId``.
- The content of every input: a content-addressed URI of our stager stands for itself; other
  ``s3://`` sources by the ETags (and sizes) of the objects they match, local files by their sha256.
  A ``DatasetDefinition`` (a query) has no fingerprint: such a request is not cached.

**Lookup**: Completed jobs whose name starts like this task's (``ListProcessingJobs``,
``NameContains``), newest first, with the key in tag ``sm-processing:cache-key`` (``ListTags``), ended
after ``not_before``, and whose outputs still have the fingerprint recorded in tag
``sm-processing:outputs-sha256`` when the operator saw them complete (``AddTags``): a job whose outputs
were since overwritten or deleted, or that nobody waited for, is not reused (Pipelines reuses the
earlier step's output URIs without checking them). Failed and Stopped jobs never match.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sagemaker_processing_provider.backends.staging import file_sha256
from sagemaker_processing_provider.local.staging import source_items
from sagemaker_processing_provider.local.transfer import S3Loc, parse_uri

log = logging.getLogger(__name__)

KEY_TAG = "sm-processing:cache-key"
OUTPUTS_TAG = "sm-processing:outputs-sha256"
KEY_FIELDS = ("AppSpecification", "Environment", "ProcessingInputs", "ProcessingOutputConfig")
MAX_CANDIDATES = 200  # ListTags calls at most per lookup

S3 = Callable[[], Any]


class Uncacheable(Exception):
    """The request has an input whose content cannot be fingerprinted."""


def _sha(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def request_key(request: dict, addressed: set[str], s3: S3) -> str:
    """The cache key of ``request`` (see the module doc); ``Uncacheable`` if an input has no fingerprint."""
    body: dict[str, Any] = {k: request.get(k) for k in KEY_FIELDS}
    cluster = request["ProcessingResources"]["ClusterConfig"]
    body["Cluster"] = [cluster["InstanceType"], cluster["InstanceCount"]]
    text = json.dumps(body, sort_keys=True).replace(request["ProcessingJobName"], "{job}")
    contents = [input_fingerprint(i, addressed, s3) for i in request.get("ProcessingInputs", [])]
    return _sha([text, contents])


def input_fingerprint(entry: dict, addressed: set[str], s3: S3) -> Any:
    spec = entry.get("S3Input")
    name = entry.get("InputName", "?")
    if not isinstance(spec, dict):
        raise Uncacheable(f"input {name!r} is a DatasetDefinition (a query): its result has no fingerprint")
    if spec["S3Uri"] in addressed:
        return "content-addressed"
    items = source_items(spec, f"input {name!r}", s3)
    return sorted((it.order, _item_digest(it.src, it.etag, s3)) for it in items)


def _item_digest(src: S3Loc | Path, etag: str | None, s3: S3) -> str:
    if isinstance(src, S3Loc):
        return etag or s3().head_object(Bucket=src.bucket, Key=src.key)["ETag"]
    return file_sha256(src)


def outputs_fingerprint(description: dict, s3: S3) -> str:
    """What the job's output destinations hold now: S3 keys + ETags, local files + sizes + mtimes."""
    state = []
    for output in description.get("ProcessingOutputConfig", {}).get("Outputs", []):
        uri = output.get("S3Output", {}).get("S3Uri")
        if uri:
            state.append([output["OutputName"], _destination_state(uri, s3)])
    return _sha(state)


def _destination_state(uri: str, s3: S3) -> list:
    loc = parse_uri(uri, "output")
    if isinstance(loc, S3Loc):
        prefix = loc.key if loc.key.endswith("/") or not loc.key else f"{loc.key}/"
        pages = s3().get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=prefix)
        return sorted((o["Key"], o.get("ETag")) for page in pages for o in page.get("Contents", []))
    if loc.is_file():
        return [("", loc.stat().st_size, loc.stat().st_mtime_ns)]
    found = []
    for root, _, files in os.walk(loc):
        for name in files:
            path = Path(root, name)
            stat = path.stat()
            found.append((path.relative_to(loc).as_posix(), stat.st_size, stat.st_mtime_ns))
    return sorted(found) if found or loc.is_dir() else ["missing"]


def tags_of(client: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        answer = client.list_tags(**kwargs)
        tags.update({t["Key"]: t["Value"] for t in answer.get("Tags", [])})
        if not answer.get("NextToken"):
            return tags
        kwargs["NextToken"] = answer["NextToken"]


def _candidates(client: Any, name_prefix: str, not_before: datetime | None) -> list[dict]:
    """Completed jobs named like ``name_prefix``, newest end first (at most ``MAX_CANDIDATES``)."""
    kwargs: dict[str, Any] = {"StatusEquals": "Completed", "NameContains": name_prefix, "MaxResults": 100}
    if not_before is not None:
        kwargs["LastModifiedTimeAfter"] = not_before  # ended after it => modified after it
    found: list[dict] = []
    while len(found) < MAX_CANDIDATES:
        answer = client.list_processing_jobs(**kwargs)
        found += answer.get("ProcessingJobSummaries", [])
        if not answer.get("NextToken"):
            break
        kwargs["NextToken"] = answer["NextToken"]
    ended = [j for j in found if j.get("ProcessingEndTime") and j["ProcessingJobStatus"] == "Completed"]
    if not_before is not None:
        ended = [j for j in ended if j["ProcessingEndTime"] >= not_before]
    return sorted(ended, key=lambda j: j["ProcessingEndTime"], reverse=True)[:MAX_CANDIDATES]


def find_cached(client: Any, s3: S3, key: str, not_before: datetime | None, name_prefix: str) -> dict | None:
    """The newest reusable Completed job with this key, described; ``None`` if there is none."""
    for summary in _candidates(client, name_prefix, not_before):
        name = summary["ProcessingJobName"]
        tags = tags_of(client, summary["ProcessingJobArn"])
        if tags.get(KEY_TAG) != key:
            continue
        recorded = tags.get(OUTPUTS_TAG)
        if recorded is None:
            log.info("Cache: job %s has this key but no record of its outputs (nobody waited for it)", name)
            continue
        description = client.describe_processing_job(ProcessingJobName=name)
        if description.get("ProcessingJobStatus") != "Completed":
            continue
        if outputs_fingerprint(description, s3) != recorded:
            log.warning(
                "Cache: job %s has this key but its outputs were overwritten or deleted since it "
                "completed: not reused",
                name,
            )
            continue
        return description
    return None
