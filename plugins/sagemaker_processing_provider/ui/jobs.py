"""What the job pages show, read through the local backend's API (never a second reader of the store).

Everything here takes a ``LocalProcessingBackend`` and returns plain data for ``render.py``: the job
list (one ``ListProcessingJobs`` page), one job (its description, its request as accepted, its
timeline, the tail of its log, its outputs), and stop. Errors stay the backend's AWS-shaped ones
(``client_errors``); ``routes.py`` turns them into HTTP answers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlparse

if TYPE_CHECKING:
    from sagemaker_processing_provider.local.backend import LocalProcessingBackend

TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
STATUSES = ("InProgress", "Stopping", "Completed", "Failed", "Stopped")
PAGE_SIZE = 50
LOG_TAIL_BYTES = 64 * 1024
MAX_LISTED_FILES = 200  # an output folder's listing stops here (and says so)
NOTE_PREFIX = "[sm-processing] "


@dataclass
class OutputListing:
    """One ``ProcessingOutput``: a local folder's files with sizes, or a link for a remote URI."""

    name: str
    uri: str
    link: str | None = None  # S3 console link (s3://)
    folder: str | None = None  # the local folder (file:// or an absolute path)
    exists: bool = False
    files: list[tuple[str, int]] = field(default_factory=list)  # (relative path, bytes)
    truncated: bool = False


@dataclass
class JobPage:
    """Everything the job page shows."""

    name: str
    status: str
    description: dict[str, Any]
    request: dict[str, Any]
    timeline: list[tuple[datetime, str]]
    notes: list[str]
    log: list[str]
    log_skipped: int
    outputs: list[OutputListing]

    @property
    def stoppable(self) -> bool:
        return self.status == "InProgress"


def list_jobs(
    backend: LocalProcessingBackend,
    *,
    status: str | None = None,
    name_contains: str | None = None,
    token: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of jobs, newest first, and the token of the next page (None on the last)."""
    kwargs: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": PAGE_SIZE}
    if status:
        kwargs["StatusEquals"] = status
    if name_contains:
        kwargs["NameContains"] = name_contains
    if token:
        kwargs["NextToken"] = token
    answer = backend.list_processing_jobs(**kwargs)
    return answer["ProcessingJobSummaries"], answer.get("NextToken")


def job_page(backend: LocalProcessingBackend, name: str) -> JobPage:
    """The job's page data; JobNotFound / ValidationException (a bad name) as the backend raises them."""
    description = backend.describe_processing_job(ProcessingJobName=name)
    description.pop("ResponseMetadata", None)
    request = backend.store.read_request(name)
    tail = backend.log_tail(name, LOG_TAIL_BYTES)
    notes = [line.removeprefix(NOTE_PREFIX) for line in tail["events"] if line.startswith(NOTE_PREFIX)]
    return JobPage(
        name=name,
        status=description["ProcessingJobStatus"],
        description=description,
        request=request,
        timeline=timeline(description),
        notes=notes,
        log=tail["events"],
        log_skipped=tail["skipped"],
        outputs=[listing(o) for o in description.get("ProcessingOutputConfig", {}).get("Outputs", [])],
    )


def timeline(description: dict[str, Any]) -> list[tuple[datetime, str]]:
    """The status changes the store records, in time order: created (InProgress), hosts started,
    a stop asked (Stopping, as of the last change), the final status (with its reason)."""
    status = description["ProcessingJobStatus"]
    events = [(description["CreationTime"], "Created: InProgress")]
    if description.get("ProcessingStartTime"):
        events.append((description["ProcessingStartTime"], "Started: the job's processes run"))
    if status == "Stopping" and description.get("LastModifiedTime"):
        events.append((description["LastModifiedTime"], "Stop requested: Stopping"))
    if description.get("ProcessingEndTime"):
        reason = description.get("FailureReason") or description.get("ExitMessage")
        events.append(
            (description["ProcessingEndTime"], f"Ended: {status}" + (f" ({reason})" if reason else ""))
        )
    return sorted(events, key=lambda e: e[0])


def listing(output: dict[str, Any]) -> OutputListing:
    """An output's destination: the files of a local folder, or a console link for ``s3://``."""
    uri = (output.get("S3Output") or {}).get("S3Uri", "")
    item = OutputListing(name=output.get("OutputName", ""), uri=uri)
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        prefix = parsed.path.lstrip("/")
        item.link = (
            f"https://s3.console.aws.amazon.com/s3/buckets/{quote(parsed.netloc, safe='')}"
            f"?prefix={quote(prefix.rstrip('/') + '/' if prefix else '', safe='')}"
        )
        return item
    if parsed.scheme == "file" or (not parsed.scheme and uri.startswith("/")):
        folder = Path(parsed.path if parsed.scheme == "file" else uri)
        item.folder = str(folder)
        item.exists = folder.is_dir()
        if item.exists:
            item.files, item.truncated = folder_files(folder, MAX_LISTED_FILES)
    return item


def folder_files(folder: Path, limit: int) -> tuple[list[tuple[str, int]], bool]:
    """Regular files under ``folder`` (symlinks not followed): a folder's own files by name, then its
    subfolders', at most ``limit``."""
    found: list[tuple[str, int]] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if not path.is_symlink():
                found.append((str(path.relative_to(folder)), st.st_size))
            if len(found) > limit:
                return found[:limit], True
    return found, False


def stop(backend: LocalProcessingBackend, name: str) -> None:
    """Ask the job to stop (ValidationException naming the status when it already ended)."""
    backend.stop_processing_job(ProcessingJobName=name)


def full_log(backend: LocalProcessingBackend, name: str) -> list[str]:
    """The whole log (the plain-text page), through the backend's cursor."""
    answer = backend.get_log_events(ProcessingJobName=name, StartFromOffset=0)
    return answer["events"]


def as_json(data: Any) -> str:
    """Pretty JSON for the page (datetimes as ISO strings)."""
    return json.dumps(
        data, indent=2, sort_keys=True, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)
    )
