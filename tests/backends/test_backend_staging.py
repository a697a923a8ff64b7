from __future__ import annotations

import re
from pathlib import Path

import pytest
from sagemaker_processing_provider.backends.staging import S3Stager
from sagemaker_processing_provider.request.stager import Stager


def staged(stager, method: str, *args):
    """A stage_* call followed by the upload, as the operator does after validating the request."""
    uri = getattr(stager, method)(*args)
    stager.upload()
    return uri


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def count_uploads(client) -> list[str]:
    """Record every PutObject / multipart upload the client really sends."""
    calls: list[str] = []
    for op in ("PutObject", "CreateMultipartUpload"):
        client.meta.events.register(
            f"before-call.s3.{op}", lambda params, **kw: calls.append(params["url_path"])
        )
    return calls


def test_both_stagers_satisfy_the_protocol(s3_stager, local_stager):
    assert isinstance(s3_stager, Stager) and isinstance(local_stager, Stager)
    assert s3_stager.allow_local is False and local_stager.allow_local is True


def test_s3_same_bytes_same_key_and_second_upload_skipped(s3, bucket, tmp_path):
    calls = count_uploads(s3)
    stager = S3Stager(s3, bucket, "code")
    script = write(tmp_path / "a" / "preprocess.py", "print('hi')\n")
    uri = staged(stager, "stage_file", script)
    assert re.fullmatch(rf"s3://{bucket}/code/[0-9a-f]{{16}}/preprocess\.py", uri)
    assert s3.get_object(Bucket=bucket, Key=uri.split("/", 3)[3])["Body"].read() == b"print('hi')\n"
    # The same bytes elsewhere on disk: the same key, and no second upload.
    copy = write(tmp_path / "b" / "preprocess.py", "print('hi')\n")
    assert staged(stager, "stage_file", copy) == uri
    assert len(calls) == 1 and (stager.uploaded, stager.skipped) == (1, 1)
    # Other bytes: another key.
    write(copy, "print('changed')\n")
    assert staged(stager, "stage_file", copy) != uri
    assert len(calls) == 2


def test_s3_object_without_our_checksum_is_uploaded_again(s3, bucket, tmp_path):
    stager = S3Stager(s3, bucket, "code")
    script = write(tmp_path / "job.py", "x = 1\n")
    uri = staged(stager, "stage_file", script)
    key = uri.split("/", 3)[3]
    s3.put_object(Bucket=bucket, Key=key, Body=b"tampered")  # same key, foreign content, no metadata
    assert staged(stager, "stage_file", script) == uri
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x = 1\n"


def test_s3_folder_hash_covers_paths_and_bytes(s3, bucket, tmp_path):
    stager = S3Stager(s3, bucket, "")
    data = tmp_path / "data"
    write(data / "part-0.csv", "a,b\n1,2\n")
    write(data / "sub" / "part-1.csv", "a,b\n3,4\n")
    uri = staged(stager, "stage_dir", data)
    assert re.fullmatch(rf"s3://{bucket}/[0-9a-f]{{16}}/data", uri)
    prefix = uri.split("/", 3)[3]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"])
    assert keys == [f"{prefix}/part-0.csv", f"{prefix}/sub/part-1.csv"]
    assert staged(stager, "stage_dir", data) == uri and stager.skipped == 2
    (data / "sub" / "part-1.csv").rename(data / "part-1.csv")  # same bytes, other layout
    assert staged(stager, "stage_dir", data) != uri


def test_s3_empty_folder_is_refused(s3_stager, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no files"):
        staged(s3_stager, "stage_dir", tmp_path / "empty")


def test_s3_bytes_and_channel(s3, bucket, s3_stager, tmp_path):
    conf = staged(s3_stager, "stage_bytes", b'{"a": 1}', "configuration.json")
    assert (
        conf.endswith("/configuration.json")
        and staged(s3_stager, "stage_bytes", b'{"a": 1}', "configuration.json") == conf
    )
    libs = tmp_path / "libs"
    write(libs / "lib.py", "x = 1\n")
    write(libs / "nested" / "ignored.py", "y = 2\n")
    extra = write(tmp_path / "extra.py", "z = 3\n")
    uri = staged(s3_stager, "stage_channel", [libs, extra], "py-files")
    assert uri.endswith("/py-files")
    prefix = uri.split("/", 3)[3]
    keys = sorted(
        o["Key"].rsplit("/", 1)[1] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    )
    assert keys == ["extra.py", "lib.py"]


def test_channel_with_two_files_of_one_name_is_refused(s3_stager, tmp_path):
    a = write(tmp_path / "a" / "lib.py", "1")
    b = write(tmp_path / "b" / "lib.py", "2")
    with pytest.raises(ValueError, match="two files named 'lib.py'"):
        staged(s3_stager, "stage_channel", [a, b], "py-files")


def test_local_stager_uses_files_in_place_and_writes_generated_content_once(local_stager, tmp_path):
    script = write(tmp_path / "my dir" / "job.py", "print(1)\n")
    assert staged(local_stager, "stage_file", script) == script.resolve().as_uri()
    assert local_stager.stage_file(script.resolve().as_uri()) == script.resolve().as_uri()
    assert staged(local_stager, "stage_dir", script.parent) == script.parent.resolve().as_uri()
    with pytest.raises(ValueError):
        staged(local_stager, "stage_file", script.parent)
    uri = staged(local_stager, "stage_bytes", b"{}", "configuration.json")
    assert uri.startswith((tmp_path / "home" / "staging").as_uri()) and uri.endswith("/configuration.json")
    assert staged(local_stager, "stage_bytes", b"{}", "configuration.json") == uri
    jars = tmp_path / "jars"
    write(jars / "dep.jar", "jar bytes")
    channel = staged(local_stager, "stage_channel", [jars], "jars")
    folder = Path(channel.removeprefix("file://"))
    assert [p.name for p in folder.iterdir()] == ["dep.jar"] and folder.name == "jars"
    assert staged(local_stager, "stage_channel", [jars], "jars") == channel
    leftovers = [p.name for p in (tmp_path / "home" / "staging").iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


def test_nothing_is_transferred_before_upload(s3, bucket, tmp_path):
    calls = count_uploads(s3)
    stager = S3Stager(s3, bucket, "code")
    uri = stager.stage_file(write(tmp_path / "job.py", "x = 1\n"))
    stager.stage_bytes(b"{}", "configuration.json")
    assert calls == [] and "Contents" not in s3.list_objects_v2(Bucket=bucket)
    stager.upload()
    assert len(calls) == 2
    assert s3.get_object(Bucket=bucket, Key=uri.split("/", 3)[3])["Body"].read() == b"x = 1\n"


def test_local_stager_writes_generated_content_only_on_upload(local_stager, tmp_path):
    uri = local_stager.stage_bytes(b"{}", "configuration.json")
    assert not Path(uri.removeprefix("file://")).exists()
    local_stager.upload()
    assert Path(uri.removeprefix("file://")).read_bytes() == b"{}"


def test_uploads_are_encrypted_with_the_kms_key(s3, bucket, tmp_path):
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    stager = S3Stager(s3, bucket, "code", kms_key_id=key)
    uri = staged(stager, "stage_file", write(tmp_path / "job.py", "x = 1\n"))
    conf = staged(stager, "stage_bytes", b"{}", "configuration.json")
    for staged_uri in (uri, conf):
        head = s3.head_object(Bucket=bucket, Key=staged_uri.split("/", 3)[3])
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key
