"""Outputs to S3 against moto's real server: EndOfJob, Continuous, multi-host merge, rollback."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sagemaker_processing_provider.errors import StagingError
from sagemaker_processing_provider.local.publish import OutputUploader

BUCKET = "staging-out"


def s3_output(
    uri: str, local: str = "/opt/ml/processing/output/result", name: str = "result", mode: str = "EndOfJob"
):
    return {"OutputName": name, "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": mode}}


def write(ml: Path, rel: str, body: str, local: str = "processing/output/result") -> Path:
    path = ml / local / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


def objects(s3, bucket: str = BUCKET, prefix: str = "") -> dict[str, bytes]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


@pytest.fixture
def bucket(s3) -> str:
    s3.create_bucket(Bucket=BUCKET)
    return BUCKET


def test_end_of_job_success_merges_all_hosts(bucket: str, s3, tmp_path: Path) -> None:
    hosts = [tmp_path / "algo-1", tmp_path / "algo-2"]
    write(hosts[0], "part-0.csv", "zero")
    write(hosts[1], "part-1.csv", "one")
    write(hosts[1], "nested/deep.csv", "deep")
    uploader = OutputUploader([s3_output(f"s3://{bucket}/runs/r1")], hosts, "job-1")
    uploader.start()
    uploader.finish(success=True)
    assert objects(s3) == {
        "runs/r1/part-0.csv": b"zero",
        "runs/r1/part-1.csv": b"one",
        "runs/r1/nested/deep.csv": b"deep",
    }


def test_end_of_job_failed_job_uploads_nothing(bucket: str, s3, tmp_path: Path) -> None:
    write(tmp_path / "algo-1", "part-0.csv", "zero")
    uploader = OutputUploader([s3_output(f"s3://{bucket}/runs/r1/")], [tmp_path / "algo-1"], "job-1")
    uploader.start()
    uploader.finish(success=False)
    assert objects(s3) == {}


def test_symlinks_are_not_followed_and_empty_output_is_fine(bucket: str, s3, tmp_path: Path) -> None:
    ml = tmp_path / "algo-1"
    real = write(ml, "real.csv", "real")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "s.txt").write_text("secret")
    os.symlink(real, real.parent / "link.csv")
    os.symlink(secret, real.parent / "linked-folder")
    outputs = [
        s3_output(f"s3://{bucket}/out"),
        s3_output(f"s3://{bucket}/empty", "/opt/ml/processing/output/empty", name="empty"),
    ]
    OutputUploader(outputs, [ml], "job-1").finish(success=True)
    assert objects(s3) == {"out/real.csv": b"real"}


def test_missing_destination_bucket_leaves_nothing_and_raises(bucket: str, s3, tmp_path: Path) -> None:
    ml = tmp_path / "algo-1"
    write(ml, "a.csv", "a")
    write(ml, "b.csv", "b", local="processing/output/other")
    s3.put_object(Bucket=bucket, Key="first/a.csv", Body=b"user's older a")
    s3.put_object(Bucket=bucket, Key="first/keep.csv", Body=b"user's")
    write(ml, "new.csv", "new")
    outputs = [
        s3_output(f"s3://{bucket}/first"),  # published first, then undone
        s3_output("s3://no-such-destination-bucket/x", "/opt/ml/processing/output/other", name="other"),
    ]
    with pytest.raises(StagingError, match="NoSuchBucket") as err:
        OutputUploader(outputs, [ml], "job-1").finish(success=True)
    assert err.value.channel == "output 'other'" and "s3://no-such-destination-bucket/x" in str(err.value)
    # new.csv (created by this job) is gone; keys that existed before stay
    assert set(objects(s3)) == {"first/a.csv", "first/keep.csv"}


def test_upload_failing_midway_deletes_only_keys_this_job_created(bucket: str, s3, tmp_path: Path) -> None:
    ml = tmp_path / "algo-1"
    write(ml, "a.csv", "a")
    write(ml, "b.csv", "b")
    # A file name that is not valid UTF-8 cannot become an S3 key: its upload fails after a.csv and b.csv.
    bad = os.fsencode(ml / "processing/output/result") + b"/z-\xff.csv"
    with open(bad, "wb") as handle:
        handle.write(b"z")
    s3.put_object(Bucket=bucket, Key="out/b.csv", Body=b"older b")
    s3.put_object(Bucket=bucket, Key="out/unrelated.csv", Body=b"u")
    with pytest.raises(StagingError, match="output 'result'"):
        OutputUploader([s3_output(f"s3://{bucket}/out")], [ml], "job-1").finish(success=True)
    assert set(objects(s3)) == {"out/b.csv", "out/unrelated.csv"}


def wait_for(predicate, timeout: float = 20.0) -> bool:
    """Polls a condition (not a timing assertion): True as soon as it holds, False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.parametrize("success", [True, False])
def test_continuous_uploads_while_running_and_at_finish(
    bucket: str, s3, tmp_path: Path, success: bool
) -> None:
    ml = tmp_path / "algo-1"
    events = "/opt/ml/processing/spark-events"
    outputs = [
        s3_output(f"s3://{bucket}/events", events, name="events", mode="Continuous"),
        s3_output(f"s3://{bucket}/final"),
    ]
    uploader = OutputUploader(outputs, [ml], "job-1", interval=0.1)
    uploader.start()
    log = write(ml, "app-1.inprogress", "line1\n", local="processing/spark-events")
    write(ml, "result.csv", "r")
    assert wait_for(lambda: objects(s3, prefix="events/") == {"events/app-1.inprogress": b"line1\n"})
    assert objects(s3, prefix="final/") == {}  # EndOfJob waits for the end
    log.write_text("line1\nline2\n")
    assert wait_for(lambda: objects(s3, prefix="events/") == {"events/app-1.inprogress": b"line1\nline2\n"})
    write(ml, "app-1", "complete", local="processing/spark-events")
    uploader.finish(success=success)  # the last sync catches files written just before the end
    assert objects(s3, prefix="events/") == {
        "events/app-1.inprogress": b"line1\nline2\n",
        "events/app-1": b"complete",
    }
    assert objects(s3, prefix="final/") == ({"final/result.csv": b"r"} if success else {})


def test_bad_output_spec_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(StagingError, match="S3UploadMode"):
        OutputUploader([s3_output("s3://b/x", mode="Sometimes")], [tmp_path], "job-1")
    with pytest.raises(StagingError, match="LocalPath"):
        OutputUploader([s3_output("s3://b/x", local="/tmp/x")], [tmp_path], "job-1")
