"""The CloudWatch Logs view of local jobs: ``DescribeLogStreams`` and ``GetLogEvents`` for ``serve``.

On AWS each host of a processing job writes to stream ``<job>/algo-N-<epoch seconds>`` of log group
``/aws/sagemaker/ProcessingJobs``. The local runner writes one combined ``output.log`` (lines prefixed
``[algo-N] `` when the job has several hosts); this view splits it back into one stream per host
(unprefixed lines, i.e. the runner's own ``[sm-processing]`` notes, go to ``algo-1``), without
changing the runner. The epoch is the job's ``CreationTime``: a stream's name must never change, and
the runner logs staging before ``ProcessingStartTime`` exists.

The log has no per-line time, so a line is stamped with the log file's modification time when this
server first reads it (an upper bound of when it was written, never decreasing within a stream) and
keeps that stamp: clients that resume from ``(timestamp, skip)`` (the SageMaker SDK) or from tokens
(boto3 users, the Amazon provider) see each line once. The index lives in memory, per server process.
Tokens are positions in a stream (``f/<index>``, ``b/<index>``, zero-padded like AWS's); a forward
token repeats when there is nothing newer, which is where SDKs stop reading.
"""

from __future__ import annotations

import base64
import bisect
import os
import re
import threading
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
MAX_EVENTS = 10_000  # GetLogEvents: at most 10,000 events or 1 MB per answer, as AWS
MAX_BYTES = 1_048_576
EVENT_OVERHEAD = 26  # bytes CloudWatch counts per event on top of its message
HOST_PREFIX = re.compile(r"\[(algo-([1-9][0-9]*))\] ")
JOB_NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"  # SageMaker's: never a path like '..'
STREAM_NAME = re.compile(rf"(?P<job>{JOB_NAME})/(?P<host>algo-[1-9][0-9]*)-(?P<epoch>[0-9]+)")
TOKEN = re.compile(r"(?P<way>[fb])/(?P<index>[0-9]{1,56})")


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def _no_stream(operation: str) -> ClientError:
    return _error("ResourceNotFoundException", "The specified log stream does not exist.", operation)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Stream:
    """One host's events: parallel arrays of times (ms) and the messages."""

    timestamps: array = field(default_factory=lambda: array("q"))
    ingested: array = field(default_factory=lambda: array("q"))
    messages: list[str] = field(default_factory=list)

    def add(self, timestamp: int, ingested: int, message: str) -> None:
        self.timestamps.append(timestamp)
        self.ingested.append(ingested)
        self.messages.append(message)

    def event(self, i: int) -> dict[str, Any]:
        return {
            "timestamp": self.timestamps[i],
            "message": self.messages[i],
            "ingestionTime": self.ingested[i],
        }


@dataclass
class JobLog:
    """A job's output.log as per-host streams, read incrementally from ``offset``."""

    job: str
    created_ms: int
    hosts: int
    offset: int = 0
    streams: dict[str, Stream] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stream_name(self, host: str) -> str:
        return f"{self.job}/{host}-{self.created_ms // 1000}"

    def add_line(self, line: str, timestamp: int, ingested: int) -> None:
        host = "algo-1"
        if self.hosts > 1:
            match = HOST_PREFIX.match(line)
            if match and int(match.group(2)) <= self.hosts:
                host, line = match.group(1), line[match.end() :]
        self.streams.setdefault(host, Stream()).add(timestamp, ingested, line)


class LogsView:
    """CloudWatch Logs' ``describe_log_streams`` / ``get_log_events`` over a ``LocalProcessingBackend``."""

    def __init__(self, backend: Any, region: str | None = None, account: str = "000000000000") -> None:
        self.backend = backend
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.account = account
        self._logs: dict[str, JobLog] = {}
        self._lock = threading.Lock()

    # -- the job log index ----------------------------------------------------------------------------
    def _job_log(self, job: str) -> JobLog | None:
        """The job's log, read up to now; None when there is no such job."""
        try:
            described = self.backend.describe_processing_job(ProcessingJobName=job)
        except ClientError:
            return None
        created_ms = int(described["CreationTime"].timestamp() * 1000)
        hosts = int(described["ProcessingResources"]["ClusterConfig"].get("InstanceCount", 1))
        with self._lock:
            log = self._logs.get(job)
            if log is None or log.created_ms != created_ms:  # new, or a job re-created under that name
                log = self._logs[job] = JobLog(job, created_ms, hosts)
        with log.lock:
            answer = self.backend.get_log_events(ProcessingJobName=job, StartFromOffset=log.offset)
            if answer["events"]:
                mtime = os.stat(self.backend.job_folder(job) / "output.log").st_mtime_ns // 1_000_000
                now = _now_ms()
                stamp = max([min(mtime, now)] + [s.timestamps[-1] for s in log.streams.values()])
                for line in answer["events"]:
                    log.add_line(line, stamp, now)
            log.offset = answer["nextOffset"]
        return log

    def _check_group(self, params: dict[str, Any], operation: str) -> None:
        name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
        if (name is None) == (identifier is None):
            raise _error(
                "InvalidParameterException",
                "Exactly one of logGroupName and logGroupIdentifier must be given.",
                operation,
            )
        group = name if name is not None else identifier.rsplit(":log-group:", 1)[-1].removesuffix(":*")
        if group != LOG_GROUP:
            raise _error("ResourceNotFoundException", "The specified log group does not exist.", operation)

    # -- DescribeLogStreams ---------------------------------------------------------------------------
    def describe_log_streams(self, **params: Any) -> dict[str, Any]:
        operation = "DescribeLogStreams"
        self._check_group(params, operation)
        prefix = params.get("logStreamNamePrefix") or ""
        order = params.get("orderBy", "LogStreamName")
        if order == "LastEventTime" and prefix:
            raise _error(
                "InvalidParameterException",
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
                operation,
            )
        streams = [s for job in self._jobs(prefix) for s in self._stream_entries(job, prefix)]
        key = "logStreamName" if order == "LogStreamName" else "lastEventTimestamp"
        streams.sort(key=lambda s: (s[key], s["logStreamName"]), reverse=bool(params.get("descending")))
        start = _page_start(params.get("nextToken"), operation)
        size = params.get("limit", 50)
        answer: dict[str, Any] = {"logStreams": streams[start : start + size]}
        if start + size < len(streams):  # only when there is more: some SDKs loop while a token comes back
            answer["nextToken"] = base64.urlsafe_b64encode(f"streams:{start + size}".encode()).decode()
        return answer

    def _jobs(self, prefix: str) -> list[str]:
        """The jobs whose streams can match ``prefix`` (one job when the prefix names it with its '/')."""
        if "/" in prefix:
            job = prefix.split("/", 1)[0]
            return [job] if re.fullmatch(JOB_NAME, job) else []
        names: list[str] = []
        kwargs: dict[str, Any] = {"MaxResults": 100}
        while True:
            page = self.backend.list_processing_jobs(**kwargs)
            names += [j["ProcessingJobName"] for j in page["ProcessingJobSummaries"]]
            if not page.get("NextToken"):
                return sorted(n for n in names if n.startswith(prefix))
            kwargs["NextToken"] = page["NextToken"]

    def _stream_entries(self, job: str, prefix: str) -> list[dict[str, Any]]:
        log = self._job_log(job)
        if log is None:
            return []
        entries = []
        with log.lock:
            for host, stream in log.streams.items():
                name = log.stream_name(host)
                if not name.startswith(prefix):
                    continue
                entries.append(
                    {
                        "logStreamName": name,
                        "creationTime": log.created_ms,
                        "firstEventTimestamp": stream.timestamps[0],
                        "lastEventTimestamp": stream.timestamps[-1],
                        "lastIngestionTime": stream.ingested[-1],
                        "arn": f"arn:aws:logs:{self.region}:{self.account}:log-group:{LOG_GROUP}"
                        f":log-stream:{name}",
                        "storedBytes": 0,  # deprecated by AWS, always 0 there too
                    }
                )
        return entries

    # -- GetLogEvents ---------------------------------------------------------------------------------
    def get_log_events(self, **params: Any) -> dict[str, Any]:
        operation = "GetLogEvents"
        self._check_group(params, operation)
        match = STREAM_NAME.fullmatch(params["logStreamName"])
        log = self._job_log(match.group("job")) if match else None
        if log is None or int(match.group("epoch")) != log.created_ms // 1000:
            raise _no_stream(operation)
        with log.lock:
            stream = log.streams.get(match.group("host"))
            if stream is None:  # a host that has not written yet has no stream, as on AWS
                raise _no_stream(operation)
            return _read(stream, params, operation)


def _page_start(token: str | None, operation: str) -> int:
    if not token:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind != "streams":
            raise ValueError(token)
        return int(number)
    except ValueError as exc:
        raise _error("InvalidParameterException", "The specified nextToken is invalid.", operation) from exc


def _position(token: str, operation: str) -> tuple[str, int]:
    match = TOKEN.fullmatch(token)
    if not match:
        raise _error("InvalidParameterException", "The specified nextToken is invalid.", operation)
    return match.group("way"), int(match.group("index"))


def _read(stream: Stream, params: dict[str, Any], operation: str) -> dict[str, Any]:
    """One page of events between ``startTime`` (inclusive) and ``endTime`` (exclusive), as AWS."""
    start_ms, end_ms = params.get("startTime"), params.get("endTime")
    low = bisect.bisect_left(stream.timestamps, start_ms) if start_ms is not None else 0
    high = bisect.bisect_left(stream.timestamps, end_ms) if end_ms is not None else len(stream.messages)
    high = max(high, low)
    limit = min(params.get("limit", MAX_EVENTS), MAX_EVENTS)
    token = params.get("nextToken")
    if token:
        way, index = _position(token, operation)
    else:
        way, index = ("f", low) if params.get("startFromHead") else ("b", high)
    budget = MAX_BYTES  # at least one event per page, however long: a reader must never stall
    if way == "f":
        first = last = max(index, low)
        while last < min(high, first + limit) and (last == first or budget >= _size(stream, last)):
            budget -= _size(stream, last)
            last += 1
        forward, backward = max(last, index), first
    else:
        first = last = min(index, high)
        while first > max(low, last - limit) and (first == last or budget >= _size(stream, first - 1)):
            first -= 1
            budget -= _size(stream, first)
        forward, backward = last, min(first, index)
    return {
        "events": [stream.event(i) for i in range(first, last)],
        "nextForwardToken": f"f/{forward:056d}",
        "nextBackwardToken": f"b/{backward:056d}",
    }


def _size(stream: Stream, i: int) -> int:
    return len(stream.messages[i].encode()) + EVENT_OVERHEAD
