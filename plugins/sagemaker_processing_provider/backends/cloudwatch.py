"""Tail a processing job's CloudWatch logs: every ``<job>/algo-N-<epoch>`` stream, from a saved cursor.

SageMaker writes one stream per instance in ``/aws/sagemaker/ProcessingJobs``. The cursor is
``{stream name: nextForwardToken}``: plain JSON, so it travels in trigger kwargs and events and a
restarted triggerer carries on where it stopped. Both listing calls are paged to the end (a job
with 60 instances has more streams than one ``DescribeLogStreams`` page returns).
"""

from __future__ import annotations

from typing import Any

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


def stream_names(logs: Any, job_name: str) -> list[str]:
    """All streams of the job, sorted (``algo-1-...``, ``algo-10-...``, ``algo-2-...``: sorted by host)."""
    names: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{job_name}/"}
    try:
        while True:
            page = logs.describe_log_streams(**kwargs)
            names += [s["logStreamName"] for s in page.get("logStreams", [])]
            token = page.get("nextToken")
            if not token or token == kwargs.get("nextToken"):
                break
            kwargs["nextToken"] = token
    except logs.exceptions.ResourceNotFoundException:
        return []  # no log group yet: the job has not written a line
    return sorted(names, key=_host_order)


def _host_order(name: str) -> tuple[int, str]:
    host = name.rsplit("/", 1)[-1]
    parts = host.split("-")
    number = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return number, name


def new_lines(logs: Any, job_name: str, cursor: dict[str, str] | None) -> tuple[list[str], dict[str, str]]:
    """Lines written since ``cursor``; with several hosts each line is prefixed ``[algo-N-...]``."""
    tokens = dict(cursor or {})
    names = stream_names(logs, job_name)
    lines: list[str] = []
    for name in names:
        host = name[len(job_name) + 1 :]
        while True:
            kwargs = {"logGroupName": LOG_GROUP, "logStreamName": name, "startFromHead": True}
            if name in tokens:
                kwargs["nextToken"] = tokens[name]
            answer = logs.get_log_events(**kwargs)
            for event in answer.get("events", []):
                message = event["message"].rstrip("\n")
                lines.append(f"[{host}] {message}" if len(names) > 1 else message)
            token = answer.get("nextForwardToken")
            if not token or token == tokens.get(name):
                break  # the same token again: the end of the stream for now
            tokens[name] = token
    return lines, tokens
