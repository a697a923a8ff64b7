"""``source_dir``/``requirements`` and step caching on the AWS path, against moto's real server.

moto completes a processing job at once and never runs it: what is checked is what reaches AWS (the
uploaded bundle and ``runproc.sh``, the request, the tags) and the cache lookup through
``ListProcessingJobs`` + ``ListTags``.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import boto3
import pytest
from airflow_operators_support import context, sklearn_operator
from sagemaker_processing_provider.backends.cache import KEY_TAG, OUTPUTS_TAG
from sagemaker_processing_provider.request import bundle

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
CACHED = {"enabled": True, "expire_after": "P30D"}


@pytest.fixture
def aws(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "extra": {"region_name": "us-east-1"}})
    )
    return aws_env


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "job.py").write_text("import cowsay\nprint(cowsay.get_output_string('cow', 'hi'))\n")
    (src / "requirements.txt").write_text("cowsay==6.1\n")
    return {
        "src": src,
        "script": src / "job.py",
        "data": tmp_path,
        "out": tmp_path,
        "release": tmp_path / "r",
    }


def _read(uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def _jobs() -> list[str]:
    summaries = boto3.client("sagemaker").list_processing_jobs(MaxResults=100)["ProcessingJobSummaries"]
    return sorted(s["ProcessingJobName"] for s in summaries)


def test_bundle_and_runproc_are_uploaded_content_addressed(aws: str, files) -> None:
    no_data = {"inputs": None, "outputs": None}
    operator = sklearn_operator(files, role=ROLE, code="job.py", source_dir=str(files["src"]), **no_data)
    result = operator.execute(context(run_id="bundle-1"))
    sent = boto3.client("sagemaker").describe_processing_job(ProcessingJobName=result["job_name"])
    assert sent["AppSpecification"]["ContainerEntrypoint"] == [
        "/bin/bash",
        f"{bundle.ENTRYPOINT_DIR}/runproc.sh",
    ]
    assert sent["AppSpecification"]["ContainerArguments"] == ["ok"]
    uris = {i["InputName"]: i["S3Input"]["S3Uri"] for i in sent["ProcessingInputs"]}
    assert uris["code"].startswith("s3://sagemaker-us-east-1-123456789012/processing-code/")
    with tarfile.open(fileobj=io.BytesIO(_read(uris["code"]))) as tar:
        assert tar.getnames() == ["job.py", "requirements.txt"]
        assert tar.extractfile("requirements.txt").read() == b"cowsay==6.1\n"
    script = _read(uris["entrypoint"]).decode()
    assert "python3 -m pip install -r" in script and "install_requirements requirements.txt" in script
    assert result["inputs"] == {}  # the bundle and runproc.sh are plumbing, not datasets

    again = sklearn_operator(files, role=ROLE, code="job.py", source_dir=str(files["src"]), **no_data)
    second = again.execute(context(run_id="bundle-2"))
    sent_again = boto3.client("sagemaker").describe_processing_job(ProcessingJobName=second["job_name"])
    assert {i["InputName"]: i["S3Input"]["S3Uri"] for i in sent_again["ProcessingInputs"]} == uris


def test_cache_lookup_through_tags_on_aws(aws: str, files, bucket: str) -> None:
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="raw/part-1.csv", Body=b"a,b\n1,2\n")
    before = set(_jobs())  # moto's server is shared by the session

    def run(run_id: str, **overrides) -> dict:
        overrides.setdefault("cache_config", CACHED)
        return sklearn_operator(
            files,
            role=ROLE,
            inputs=[{"source": f"s3://{bucket}/raw/", "destination": "/opt/ml/processing/input/data"}],
            outputs=[{"source": "/opt/ml/processing/output/result", "destination": f"s3://{bucket}/result/"}],
            **overrides,
        ).execute(context(run_id=run_id))

    first = run("aws-1")
    arn = first["arn"]
    tags = {t["Key"]: t["Value"] for t in boto3.client("sagemaker").list_tags(ResourceArn=arn)["Tags"]}
    assert tags[KEY_TAG] == first["cache_key"] and OUTPUTS_TAG in tags
    hit = run("aws-2")
    assert (hit["cache_hit"], hit["cached_job"]) == (True, first["job_name"])
    assert set(_jobs()) - before == {first["job_name"]}

    s3.put_object(Bucket=bucket, Key="raw/part-2.csv", Body=b"a,b\n3,4\n")  # the input changed: ETags
    changed = run("aws-3")
    assert changed["cache_hit"] is False and changed["cache_key"] != first["cache_key"]

    boto3.client("sagemaker").stop_processing_job(ProcessingJobName=changed["job_name"])  # now Stopped
    after_stop = run("aws-4")
    assert after_stop["cache_hit"] is False and after_stop["cache_key"] == changed["cache_key"]

    s3.put_object(Bucket=bucket, Key="result/part-0.parquet", Body=b"overwritten")
    overwritten = run("aws-5")
    assert overwritten["cache_hit"] is False  # aws-4's outputs changed since it completed
    assert run("aws-6")["cached_job"] == overwritten["job_name"]

    time.sleep(1.5)
    assert run("aws-7", cache_config={"enabled": True, "expire_after": "PT1S"})["cache_hit"] is False
    assert len(set(_jobs()) - before) == 5
