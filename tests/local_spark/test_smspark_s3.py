"""``--spark-event-logs-s3-uri``: event logs uploaded to S3 at the end, against a real moto S3 server."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sagemaker_processing_provider.local.smspark_run import upload_event_logs


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(endpoint, monkeypatch, tmp_path):
    import boto3

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    client = boto3.client("s3")
    client.create_bucket(Bucket="events-bucket")
    yield client
    for obj in client.list_objects_v2(Bucket="events-bucket").get("Contents", []):
        client.delete_object(Bucket="events-bucket", Key=obj["Key"])
    client.delete_bucket(Bucket="events-bucket")


def test_event_logs_uploaded_without_inprogress_or_crc(s3, tmp_path):
    staging = tmp_path / "spark-events"
    (staging / "eventlog_v2_local-1").mkdir(parents=True)
    (staging / "eventlog_v2_local-1" / "events_1_local-1.zstd").write_bytes(b"events")
    (staging / "eventlog_v2_local-1" / "appstatus_local-1.inprogress").write_bytes(b"")
    (staging / "eventlog_v2_local-1" / ".events_1_local-1.zstd.crc").write_bytes(b"crc")

    upload_event_logs(staging, "s3://events-bucket/jobs/spark-events/")

    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="events-bucket")["Contents"])
    assert keys == [
        "jobs/spark-events/eventlog_v2_local-1/appstatus_local-1",
        "jobs/spark-events/eventlog_v2_local-1/events_1_local-1.zstd",
    ]
    body = s3.get_object(Bucket="events-bucket", Key=keys[1])["Body"].read()
    assert body == b"events"


def test_upload_failure_is_a_warning_not_an_error(s3, tmp_path, caplog):
    staging = tmp_path / "spark-events"
    staging.mkdir()
    (staging / "local-1").write_bytes(b"x")

    upload_event_logs(staging, "s3://no-such-bucket/events")

    assert "could not upload Spark event logs to s3://no-such-bucket/events" in caplog.text
