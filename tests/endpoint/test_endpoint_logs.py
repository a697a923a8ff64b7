"""Plain boto3 ``logs`` client on ``sm-processing serve``: per-host streams, paging, live tailing."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from botocore.exceptions import ClientError
from endpoint_support import LOG_GROUP, Endpoint, job_request, s3_objects, seed_bucket, unique, wait_for


def _events(logs, stream: str, **kwargs) -> list[dict]:
    return logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, **kwargs)["events"]


def _streams(logs, **kwargs) -> list[str]:
    answer = logs.describe_log_streams(logGroupName=LOG_GROUP, **kwargs)
    return [s["logStreamName"] for s in answer["logStreams"]]


def test_two_hosts_get_one_stream_each(aws: Endpoint, bucket: str) -> None:
    seed_bucket(bucket)
    sm, logs = aws.client("sagemaker"), aws.client("logs")
    name = unique("hosts")
    sm.create_processing_job(**job_request(name, bucket, hosts=2))
    job = wait_for(sm, name)
    assert job["ProcessingJobStatus"] == "Completed"
    assert sorted(s3_objects(bucket, f"out/{name}/")) == [
        f"out/{name}/algo-1.json",
        f"out/{name}/algo-2.json",
    ]

    epoch = int(job["CreationTime"].timestamp())
    expected = [f"{name}/algo-1-{epoch}", f"{name}/algo-2-{epoch}"]
    answer = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/")
    assert [s["logStreamName"] for s in answer["logStreams"]] == expected and "nextToken" not in answer
    for stream in answer["logStreams"]:
        assert stream["arn"].endswith(f":log-group:{LOG_GROUP}:log-stream:{stream['logStreamName']}")
        assert stream["firstEventTimestamp"] <= stream["lastEventTimestamp"] <= stream["lastIngestionTime"]
    assert _streams(logs, logStreamNamePrefix=name[:-3]) == expected  # a prefix of the job name
    assert _streams(logs, logStreamNamePrefix=f"{name}/algo-2") == expected[1:]
    first = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/", limit=1)
    second = logs.describe_log_streams(
        logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/", limit=1, nextToken=first["nextToken"]
    )
    assert [s["logStreamName"] for s in first["logStreams"] + second["logStreams"]] == expected
    assert "nextToken" not in second  # a token only when there is more (the SDK loops while one comes)
    assert set(expected) <= set(_streams(logs, orderBy="LastEventTime", descending=True))

    host1, host2 = (_events(logs, s, startFromHead=True) for s in expected)
    messages1, messages2 = [e["message"] for e in host1], [e["message"] for e in host2]
    assert messages2 == ["algo-2 starting, mode ok", "algo-2 done, rows 5"]  # without the [algo-2] prefix
    notes = [m for m in messages1 if m.startswith("[sm-processing] ")]  # the runner's own: in algo-1
    assert [m for m in messages1 if m not in notes] == [m.replace("algo-2", "algo-1") for m in messages2]
    assert any(m.startswith("[sm-processing] Staged input 'data'") for m in notes)
    assert messages1[-1] == f"[sm-processing] job {name} ended Completed"
    assert not any("algo-2" in m for m in messages1)
    for event in host1 + host2:
        assert set(event) == {"timestamp", "message", "ingestionTime"}
        assert epoch * 1000 <= event["timestamp"] <= event["ingestionTime"]


def test_log_errors_have_the_logs_service_codes(aws: Endpoint, bucket: str) -> None:
    seed_bucket(bucket)
    sm, logs = aws.client("sagemaker"), aws.client("logs")
    name = unique("errs")
    sm.create_processing_job(**job_request(name, bucket))
    epoch = int(wait_for(sm, name)["CreationTime"].timestamp())

    for stream in (f"{name}/algo-2-{epoch}", f"{name}/algo-1-{epoch + 1}", f"nope-{name}/algo-1-{epoch}"):
        with pytest.raises(logs.exceptions.ResourceNotFoundException, match="log stream does not exist"):
            _events(logs, stream)
    with pytest.raises(logs.exceptions.ResourceNotFoundException, match="log group does not exist"):
        logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs")
    for kwargs in (
        {"orderBy": "LastEventTime", "logStreamNamePrefix": name},  # AWS refuses this combination
        {"limit": 51},
        {"nextToken": "garbage"},
    ):
        with pytest.raises(logs.exceptions.InvalidParameterException):
            logs.describe_log_streams(logGroupName=LOG_GROUP, **kwargs)
    with pytest.raises(logs.exceptions.InvalidParameterException, match="nextToken"):
        _events(logs, f"{name}/algo-1-{epoch}", nextToken="f/not-a-position")


def test_get_log_events_pages_forward_and_backward(aws: Endpoint, bucket: str) -> None:
    seed_bucket(bucket)
    sm, logs = aws.client("sagemaker"), aws.client("logs")
    name = unique("pages")
    sm.create_processing_job(**job_request(name, bucket, "lines", "250"))
    epoch = int(wait_for(sm, name)["CreationTime"].timestamp())
    stream = f"{name}/algo-1-{epoch}"
    everything = [e["message"] for e in _events(logs, stream, startFromHead=True)]
    assert [m for m in everything if " line " in m] == [f"algo-1 line {i:05d} " for i in range(250)]

    forward, token, sizes = [], None, []
    while True:  # the loop of the SDKs: until nextForwardToken comes back unchanged
        kwargs = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, limit=100, **kwargs)
        sizes.append(len(page["events"]))
        forward += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert forward == everything and sizes == [100, 100, len(everything) - 200, 0]

    backward, token = [], None
    while True:  # from the end (startFromHead defaults to false) back to the start
        kwargs = {"nextToken": token} if token else {}
        page = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, limit=100, **kwargs)
        backward = [e["message"] for e in page["events"]] + backward
        if page["nextBackwardToken"] == token:
            break
        token = page["nextBackwardToken"]
    assert backward == everything
    assert [e["message"] for e in _events(logs, stream, limit=3)] == everything[-3:]

    times = [e["timestamp"] for e in _events(logs, stream, startFromHead=True)]
    assert times == sorted(times)
    assert _events(logs, stream, startFromHead=True, startTime=times[-1] + 1) == []
    assert _events(logs, stream, startFromHead=True, endTime=times[0]) == []  # endTime is exclusive
    assert len(_events(logs, stream, startFromHead=True, startTime=times[0])) == len(everything)


def test_a_page_holds_at_most_one_megabyte(aws: Endpoint, bucket: str) -> None:
    seed_bucket(bucket)
    sm, logs = aws.client("sagemaker"), aws.client("logs")
    name = unique("big")
    sm.create_processing_job(**job_request(name, bucket, "lines", "300", "5000"))  # about 1.5 MB
    stream = f"{name}/algo-1-{int(wait_for(sm, name)['CreationTime'].timestamp())}"
    page = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True)
    rest = logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=stream, nextToken=page["nextForwardToken"]
    )

    assert 150 < len(page["events"]) < 300
    assert sum(len(e["message"].encode()) + 26 for e in page["events"]) <= 1_048_576
    lines = [e["message"] for e in page["events"] + rest["events"] if " line " in e["message"]]
    assert [m[:17] for m in lines] == [f"algo-1 line {i:05d}" for i in range(300)]


def test_live_tailing_with_tokens_returns_each_line_once(aws: Endpoint, bucket: str, release) -> None:
    seed_bucket(bucket)
    sm, logs = aws.client("sagemaker"), aws.client("logs")
    name = unique("tail")
    sm.create_processing_job(**job_request(name, bucket, "wait", env={"RELEASE_FILE": str(release)}))
    stream = (
        f"{name}/algo-1-{int(sm.describe_processing_job(ProcessingJobName=name)['CreationTime'].timestamp())}"
    )
    seen: list[str] = []
    tokens: list[str | None] = [None]

    def drain() -> None:  # as the Amazon provider's and this project's hooks read: forward until it repeats
        while True:
            kwargs = {"nextToken": tokens[-1]} if tokens[-1] else {}
            page = logs.get_log_events(
                logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True, **kwargs
            )
            seen.extend(e["message"] for e in page["events"])
            if page["nextForwardToken"] == tokens[-1]:
                return
            tokens.append(page["nextForwardToken"])

    deadline = time.monotonic() + 60
    while "algo-1 starting, mode wait" not in seen and time.monotonic() < deadline:
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):  # no line yet: no stream
            drain()
        time.sleep(0.1)
    assert "algo-1 starting, mode wait" in seen and "algo-1 released" not in seen
    release.touch()
    assert wait_for(sm, name)["ProcessingJobStatus"] == "Completed"
    drain()

    assert seen == [e["message"] for e in _events(logs, stream, startFromHead=True)]  # each line once
    assert (
        seen.index("algo-1 starting, mode wait")
        < seen.index("algo-1 released")
        < seen.index("algo-1 done, rows 5")
    )


def test_unsigned_json_logs_call(endpoint: Endpoint) -> None:
    """The Logs target answers a raw JSON 1.1 call like boto3's (only the target routes)."""
    import urllib.request

    body = json.dumps({"logGroupName": LOG_GROUP, "logStreamNamePrefix": "no-such-job/"}).encode()
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        headers={
            "X-Amz-Target": "Logs_20140328.DescribeLogStreams",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read()) == {"logStreams": []}
    with pytest.raises(ClientError, match="UnknownOperationException"):
        endpoint.client("logs").put_log_events(
            logGroupName=LOG_GROUP, logStreamName="x/y", logEvents=[{"timestamp": 1, "message": "m"}]
        )


def test_an_event_over_a_megabyte_comes_alone_and_never_stalls_a_reader() -> None:
    from sagemaker_processing_provider.local.server_logs import Stream, _read

    stream = Stream()
    for message in ("small", "x" * 1_200_000, "after"):
        stream.add(1, 2, message)
    pages, token = [], None
    while True:
        page = _read(stream, {"nextToken": token} if token else {"startFromHead": True}, "GetLogEvents")
        pages.append([len(e["message"]) for e in page["events"]])
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert pages == [[5], [1_200_000], [5], []]
    back = _read(stream, {"nextToken": "b/" + "0" * 55 + "3"}, "GetLogEvents")
    assert [len(e["message"]) for e in back["events"]] == [5]
