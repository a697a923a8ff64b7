"""The AWS CLI (v1, its own vendored botocore) on ``sm-processing serve`` with ``--endpoint-url``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from endpoint_support import LOG_GROUP, Endpoint, job_request, s3_objects, seed_bucket, unique, wait_for

AWS = str(Path(sys.executable).parent / "aws")


def aws_cli(endpoint: Endpoint, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``aws ARGS --endpoint-url URL --output json`` with fake credentials and no ~/.aws."""
    env = {k: v for k, v in env.items() if not k.startswith("AWS_ENDPOINT_URL")}
    command = [AWS, *args, "--endpoint-url", endpoint.url, "--output", "json"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def cli(aws: Endpoint, aws_subprocess_env: dict[str, str]):
    def run(*args: str) -> dict:
        result = aws_cli(aws, aws_subprocess_env, *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else {}

    return run


@pytest.mark.slow  # each `aws` call starts a Python with the CLI: 2-4 s apiece on a busy machine
def test_create_from_cli_input_json_then_describe_and_list(
    cli, aws: Endpoint, aws_subprocess_env: dict[str, str], bucket: str, tmp_path: Path
) -> None:
    seed_bucket(bucket)
    prefix = unique("cli")
    names = [f"{prefix}-a", f"{prefix}-b"]
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(job_request(names[0], bucket)))
    created = cli("sagemaker", "create-processing-job", "--cli-input-json", f"file://{request_file}")
    assert created["ProcessingJobArn"].endswith(f"processing-job/{names[0]}")
    aws.client("sagemaker").create_processing_job(**job_request(names[1], bucket))
    for name in names:
        wait_for(aws.client("sagemaker"), name)

    described = cli("sagemaker", "describe-processing-job", "--processing-job-name", names[0])
    assert described["ProcessingJobStatus"] == "Completed"
    # CLI v1 prints JSON 1.1 timestamps as received (cli_timestamp_format "none"): epoch seconds, as from AWS
    assert isinstance(described["CreationTime"], float)
    assert described["CreationTime"] <= described["ProcessingStartTime"] <= described["ProcessingEndTime"]
    assert described["ProcessingInputs"][1]["S3Input"]["S3Uri"] == f"s3://{bucket}/data/"
    assert json.loads(s3_objects(bucket, f"out/{names[0]}/")[f"out/{names[0]}/algo-1.json"])["rows"] == 5

    # --page-size 1: the CLI follows NextToken itself, one job per call
    listed = cli("sagemaker", "list-processing-jobs", "--name-contains", prefix, "--page-size", "1")
    assert sorted(s["ProcessingJobName"] for s in listed["ProcessingJobSummaries"]) == names
    completed = cli(
        "sagemaker", "list-processing-jobs", "--name-contains", prefix, "--status-equals", "Failed"
    )
    assert completed["ProcessingJobSummaries"] == []

    stream = f"{names[0]}/algo-1-{int(described['CreationTime'])}"
    events = cli(
        "logs",
        "get-log-events",
        "--log-group-name",
        LOG_GROUP,
        "--log-stream-name",
        stream,
        "--start-from-head",
    )
    assert "algo-1 done, rows 5" in [e["message"] for e in events["events"]]

    missing = aws_cli(
        aws, aws_subprocess_env, "sagemaker", "describe-processing-job", "--processing-job-name", "nope"
    )
    assert missing.returncode != 0
    assert "(ValidationException)" in missing.stderr and "Could not find requested job with name nope" in (
        missing.stderr
    )
