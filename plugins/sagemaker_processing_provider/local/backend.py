"""``LocalProcessingBackend``: the SageMaker client's processing methods, run on this machine.

Same method names, keyword arguments, response shapes and errors as
``boto3.client("sagemaker")``, so callers switch backends without branching. State lives in the
job store (store.py), so any process can describe or stop any job. Every name is validated on every
call (never a path). A job is created with its watchdog already started (watchdog.py), so no job
exists without one; a job whose runner and watchdog are both gone is settled (reconcile.py) by
whoever looks at it next. One unreadable job never stops ``list`` (it is listed ``Failed`` with the
reason) or the describe of another.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sagemaker_processing_provider.api import client_errors
from sagemaker_processing_provider.api.validation import (
    check_job_name,
    check_model_limits,
    input_shape,
    validate_create_request,
    validate_shape,
)
from sagemaker_processing_provider.local import failpoints, journal, reconcile, sandbox
from sagemaker_processing_provider.local.store import (
    TERMINAL,
    JobStore,
    UnreadableJob,
    discard_tree,
    now_iso,
    pid_record,
    read_json,
    write_json_atomic,
)

log = logging.getLogger(__name__)

ACCOUNT = "000000000000"
TIME_FIELDS = ("CreationTime", "ProcessingStartTime", "ProcessingEndTime", "LastModifiedTime")
SUMMARY_FIELDS = (
    "ProcessingJobName",
    "ProcessingJobArn",
    "CreationTime",
    "ProcessingEndTime",
    "LastModifiedTime",
    "ProcessingJobStatus",
    "FailureReason",
    "ExitMessage",
)
RUNNER_START_GRACE_SECONDS = 30  # a job without runner.pid this long after creation is dead
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def job_arn(name: str) -> str:
    region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return f"arn:aws:sagemaker:{region}:{ACCOUNT}:processing-job/{name.lower()}"


def _meta() -> dict[str, Any]:
    return {"ResponseMetadata": {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": 200, "RetryAttempts": 0}}


def _to_datetime(value: str) -> datetime:
    from dateutil.tz import tzlocal

    return datetime.fromisoformat(value).astimezone(tzlocal())


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is rewritten or replaced (None: not there)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _as_utc(value: Any) -> datetime:
    """A ListProcessingJobs time filter (datetime, ISO string or epoch seconds, as boto3 accepts)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    from botocore.utils import parse_timestamp

    return parse_timestamp(value).astimezone(UTC)


class LocalProcessingBackend:
    """Processing jobs on this machine, with boto3's SageMaker method names and shapes."""

    def __init__(self, home: Path | str | None = None) -> None:
        self.store = JobStore(home)
        self.home = self.store.home

    # -- create ---------------------------------------------------------------------------------
    def create_processing_job(self, **request: Any) -> dict[str, Any]:
        """Validate, record the job with its watchdog started, and return at once."""
        validate_create_request(request, local=True, home=self.home)
        name = request["ProcessingJobName"]
        taken = self.store.taken(name) if self.store.jobs.is_dir() else None
        if taken:
            raise client_errors.ResourceInUse(
                f"Job name must be unique within an AWS account and region, and a job with this name "
                f"already exists ({taken})",
                "CreateProcessingJob",
                field="ProcessingJobName",
            )
        arn = job_arn(name)
        created = now_iso()
        state = {
            "ProcessingJobName": name,
            "ProcessingJobArn": arn,
            "ProcessingJobStatus": "InProgress",
            "CreationTime": created,
            "LastModifiedTime": created,
        }
        tmp = self.store.stage_new(name, request, state)
        watchdog: subprocess.Popen[bytes] | None = None
        try:
            watchdog = self._start_watchdog(tmp, self.store.job_dir(name))
            failpoints.hit("create-spawned")
            job_dir = self.store.commit_new(tmp, name)
        except BaseException:
            if watchdog is not None and watchdog.stdin:
                watchdog.stdin.close()  # no "go": the watchdog leaves without running anything
            discard_tree(tmp)
            raise
        failpoints.hit("create-renamed")
        assert watchdog.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            watchdog.stdin.write(b"go\n")
            watchdog.stdin.close()
        log.info("Started local processing job %s (folder %s)", name, job_dir)
        return {"ProcessingJobArn": arn, **_meta()}

    def _start_watchdog(self, tmp: Path, job_dir: Path) -> subprocess.Popen[bytes]:
        """Start the job's watchdog (it forks the runner once the folder has its name)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        env["SM_PROCESSING_HOME"] = str(self.home)
        env[sandbox.PROBED_ENV] = sandbox.mode()  # probe once per caller, not once per job
        st = tmp.stat()  # the rename keeps (device, inode): how the watchdog knows its folder
        folder_id = f"{st.st_dev}:{st.st_ino}"
        module = "sagemaker_processing_provider.local.watchdog"
        with open(tmp / "runner.log", "ab") as runner_log:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, str(tmp), str(job_dir), folder_id],
                stdin=subprocess.PIPE,
                stdout=runner_log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        record = pid_record(proc.pid)
        write_json_atomic(tmp / "runner.pid", {**record, "watchdog": record, "phase": "starting"})
        threading.Thread(target=proc.wait, daemon=True).start()  # reap it: no zombie in long-lived callers
        return proc

    def wait_for_change(self, name: str, seconds: float, check: float = 0.05) -> bool:
        """Sleep up to ``seconds``, returning early (True) once the job's ``state.json`` is replaced or
        rewritten (every status change writes it: started, Stopping, Completed/Failed/Stopped). A stat
        every ``check`` seconds: callers see a job end within that, not a whole poll interval later."""
        state = self.store.job_dir(check_job_name(name, "DescribeProcessingJob")) / "state.json"
        before = _file_signature(state)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(check, left))
            if _file_signature(state) != before:
                return True
        return False

    # -- describe -------------------------------------------------------------------------------
    def describe_processing_job(self, ProcessingJobName: str) -> dict[str, Any]:  # noqa: N803 (boto3 name)
        name = check_job_name(ProcessingJobName, "DescribeProcessingJob")
        with self._answerable(name, "DescribeProcessingJob"):
            state = self._refresh(name, "DescribeProcessingJob")
            request = self.store.read_request(name)
        response = {k: v for k, v in request.items() if k != "Tags"}
        response.update(state)
        for field in TIME_FIELDS:
            if response.get(field):
                response[field] = _to_datetime(response[field])
        return {**response, **_meta()}

    def _refresh(self, name: str, operation: str) -> dict[str, Any]:
        """The job's state; a job whose runner and watchdog are gone is settled here (reconcile.py)."""
        state = self.store.read_state(name, operation)
        job_dir = self.store.job_dir(name)
        if state["ProcessingJobStatus"] in TERMINAL and not (job_dir / journal.JOURNAL).exists():
            return state
        if not self._owner_gone(job_dir, state):
            return state
        cause = reconcile.runner_cause(
            job_dir, "and its watchdog are gone (killed, or the machine restarted)"
        )
        try:
            return reconcile.settle(self.store, name, cause)
        except OSError as exc:  # e.g. a full disk: answer with what is true now, persist next time
            log.warning("Processing job %s: could not record its final state: %s", name, exc)
            return {
                **state,
                "ProcessingJobStatus": "Failed",
                "FailureReason": f"{cause} (not recorded: {exc})",
            }

    @contextlib.contextmanager
    def _answerable(self, name: str, operation: str) -> Iterator[None]:
        """A job the store cannot read is an AWS-shaped InternalFailure naming it, not a traceback."""
        try:
            yield
        except UnreadableJob as exc:
            where = self.store.job_dir(name)
            raise client_errors.InternalFailure(
                f"{exc}. See {where}", operation, field="ProcessingJobName"
            ) from exc

    def _owner_gone(self, job_dir: Path, state: dict[str, Any]) -> bool:
        if (job_dir / "runner.pid").exists():
            return reconcile.owner_gone(job_dir)
        age = datetime.now(UTC) - datetime.fromisoformat(state["CreationTime"])
        return age.total_seconds() >= RUNNER_START_GRACE_SECONDS  # a job of an older store

    # -- stop -----------------------------------------------------------------------------------
    def stop_processing_job(self, ProcessingJobName: str) -> dict[str, Any]:  # noqa: N803
        name = check_job_name(ProcessingJobName, "StopProcessingJob")
        with self._answerable(name, "StopProcessingJob"):
            self._refresh(name, "StopProcessingJob")
        with self.store.update(name, "StopProcessingJob") as state:
            status = state["ProcessingJobStatus"]
            if status in TERMINAL:
                raise client_errors.ValidationException(
                    f"The request was rejected because the processing job {name} is in status {status}; "
                    "only a job in status InProgress can be stopped.",
                    "StopProcessingJob",
                    field="ProcessingJobName",
                )
            state["ProcessingJobStatus"] = "Stopping"
        log.info("Stopping local processing job %s", name)
        return _meta()

    # -- list -----------------------------------------------------------------------------------
    def list_processing_jobs(self, **kwargs: Any) -> dict[str, Any]:
        validate_shape(kwargs, "ListProcessingJobs")
        check_model_limits(kwargs, input_shape("ListProcessingJobs"), "", "ListProcessingJobs")
        jobs = [summary for n in self.store.names() if (summary := self._summary(n)) is not None]
        jobs = [j for j in jobs if _matches(j, kwargs)]
        key = {"Name": "ProcessingJobName", "Status": "ProcessingJobStatus"}.get(
            kwargs.get("SortBy", "CreationTime"), "CreationTime"
        )
        jobs.sort(
            key=lambda j: (j[key], j["ProcessingJobName"]), reverse=kwargs.get("SortOrder") != "Ascending"
        )
        start = _decode_token(kwargs.get("NextToken"))
        size = kwargs.get("MaxResults", 10)
        page = jobs[start : start + size]
        for job in page:
            for field in TIME_FIELDS:
                if job.get(field):
                    job[field] = _to_datetime(job[field])
        response: dict[str, Any] = {"ProcessingJobSummaries": page}
        if start + size < len(jobs):
            response["NextToken"] = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
        return {**response, **_meta()}

    def _summary(self, name: str) -> dict[str, Any] | None:
        """A job's summary; an unreadable job is listed Failed with the reason, never fails the list."""
        try:
            state = self._refresh(name, "ListProcessingJobs")
        except client_errors.JobNotFound:
            return None  # not a job (a half-made folder of an older store)
        except (UnreadableJob, OSError) as exc:
            log.warning("Listing processing jobs: %s", exc)
            created = datetime.fromtimestamp(self.store.job_dir(name).stat().st_mtime, UTC).isoformat()
            state = {
                "ProcessingJobName": name,
                "ProcessingJobArn": job_arn(name),
                "ProcessingJobStatus": "Failed",
                "FailureReason": f"InternalServerError: {exc}"[:1024],
                "CreationTime": created,
                "LastModifiedTime": created,
            }
        return {k: state[k] for k in SUMMARY_FIELDS if state.get(k) is not None}

    # -- logs -----------------------------------------------------------------------------------
    def get_log_events(self, ProcessingJobName: str, StartFromOffset: int = 0) -> dict[str, Any]:  # noqa: N803
        """Whole log lines from a byte offset; pass ``nextOffset`` back to continue where you left off."""
        name = check_job_name(ProcessingJobName, "GetLogEvents")
        if not isinstance(StartFromOffset, int) or isinstance(StartFromOffset, bool) or StartFromOffset < 0:
            raise client_errors.ValidationException(
                f"StartFromOffset must be a non-negative integer (a nextOffset), not {StartFromOffset!r}",
                "GetLogEvents",
                field="StartFromOffset",
            )
        try:
            state = self.store.read_state(name, "GetLogEvents")
        except UnreadableJob as exc:
            state = {"ProcessingJobStatus": "Failed"}  # its log is still worth reading
            log.warning("%s", exc)
        with open(self.store.job_dir(name) / "output.log", "rb") as fh:
            fh.seek(StartFromOffset)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        if state["ProcessingJobStatus"] in TERMINAL:
            end = len(data)  # the job will write no more: hand out a last partial line too
        lines = data[:end].decode("utf-8", errors="replace").splitlines()
        return {"events": lines, "nextOffset": StartFromOffset + end}

    def log_tail(self, name: str, max_bytes: int = 64 * 1024) -> dict[str, Any]:
        """The log's last whole lines within ``max_bytes`` (a page shows the end of a big log without
        reading it all); ``skipped`` is how many bytes before them were left out."""
        path = self.job_folder(name) / "output.log"
        self.store.read_state(name, "GetLogEvents")  # JobNotFound for an unknown job
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - max_bytes)
            fh.seek(start)
            data = fh.read()
        if start and b"\n" in data[:-1]:
            cut = data.index(b"\n") + 1  # a partial first line is dropped (unless it is all there is)
            data, start = data[cut:], start + cut
        return {"events": data.decode("utf-8", errors="replace").splitlines(), "skipped": start}

    # -- tags -----------------------------------------------------------------------------------
    def add_tags(self, ResourceArn: str, Tags: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        """Add or overwrite tags of a job (kept in ``tags.json``; the request keeps its own ``Tags``)."""
        name = self._name_of(ResourceArn, "AddTags")
        with self.store.update(name, "AddTags"):  # the job's lock, for this read-modify-write
            tags = self._tags(name)
            tags.update({t["Key"]: t["Value"] for t in Tags})
            write_json_atomic(self.store.job_dir(name) / "tags.json", tags)
        return {"Tags": Tags, **_meta()}

    def list_tags(self, ResourceArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        tags = self._tags(self._name_of(ResourceArn, "ListTags"))
        return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()], **_meta()}

    def _tags(self, name: str) -> dict[str, str]:
        path = self.store.job_dir(name) / "tags.json"
        if path.is_file():
            return dict(read_json(path))
        return {t["Key"]: t["Value"] for t in self.store.read_request(name).get("Tags", [])}

    def _name_of(self, arn: str, operation: str) -> str:
        """The job of a processing-job ARN (ARNs carry the name in lower case)."""
        name = check_job_name(arn.rsplit("processing-job/", 1)[-1], operation)
        if not self.store.exists(name):
            name = next((n for n in self.store.names() if n.lower() == name), name)
        self.store.read_state(name, operation)  # JobNotFound for an unknown job
        return name

    def job_folder(self, name: str) -> Path:
        """Where the job's files live (for links and humans)."""
        return self.store.job_dir(check_job_name(name, "DescribeProcessingJob"))


def _matches(job: dict[str, Any], kwargs: dict[str, Any]) -> bool:
    if kwargs.get("NameContains") and kwargs["NameContains"].lower() not in job["ProcessingJobName"].lower():
        return False
    if kwargs.get("StatusEquals") and job["ProcessingJobStatus"] != kwargs["StatusEquals"]:
        return False
    for arg, field, after in (
        ("CreationTimeAfter", "CreationTime", True),
        ("CreationTimeBefore", "CreationTime", False),
        ("LastModifiedTimeAfter", "LastModifiedTime", True),
        ("LastModifiedTimeBefore", "LastModifiedTime", False),
    ):
        if arg in kwargs:
            value, bound = datetime.fromisoformat(job[field]), _as_utc(kwargs[arg])
            if (value <= bound) if after else (value >= bound):
                return False
    return True


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        prefix, _, number = text.partition(":")
        if prefix != "offset":
            raise ValueError(token)
        return int(number)
    except ValueError as exc:
        raise client_errors.ValidationException(
            "Invalid pagination token: pass the NextToken of a previous ListProcessingJobs response",
            "ListProcessingJobs",
            field="NextToken",
        ) from exc
