"""``--spark-event-logs-s3-uri``: event logs uploaded to S3 at the end, against a real moto S3 server."""

from __future__ import annotations

import pytest
from sagemaker_processing_provider.local.smspark_run import upload_event_logs


@pytest.fixture
def s3(aws_env):
    import boto3

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
