"""The SageMaker Python SDK v3 (``sagemaker-core``) on ``sm-processing serve``, S3 on moto.

The session's ``sagemaker_client`` points at the endpoint; its boto session finds the Logs endpoint
through the standard ``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`` (the SDK builds that client itself) and S3
through ``AWS_ENDPOINT_URL`` (moto). Importing the SDK takes 10-20 s here, hence ``slow``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from endpoint_support import (
    JOB_SCRIPT,
    LOG_GROUP,
    ROLE,
    SKLEARN_IMAGE,
    Endpoint,
    job_request,
    s3_objects,
    seed_bucket,
    unique,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def session(aws: Endpoint, bucket: str, monkeypatch: pytest.MonkeyPatch):
    import boto3
    from sagemaker.core.helper.session_helper import Session

    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", aws.url)
    boto_session = boto3.Session(region_name="us-east-1")
    client = boto_session.client("sagemaker", endpoint_url=aws.url)
    # default_bucket given: the SDK would otherwise ask STS (at AWS's own URL) for the account
    return Session(boto_session=boto_session, sagemaker_client=client, default_bucket=bucket)


def test_script_processor_run_completes_with_outputs_in_s3_and_logs(
    session, aws: Endpoint, bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output

    seed_bucket(bucket)
    script = tmp_path / "count_rows.py"
    script.write_text(JOB_SCRIPT)
    processor = ScriptProcessor(
        role=ROLE,
        image_uri=SKLEARN_IMAGE,
        command=["python3"],
        instance_count=2,
        instance_type="ml.m5.xlarge",
        base_job_name="sdk-script",
        sagemaker_session=session,
    )
    processor.run(
        code=str(script),  # uploaded by the SDK to the session's bucket, staged from S3 by the job
        inputs=[
            ProcessingInput(
                input_name="data",
                s3_input=ProcessingS3Input(
                    s3_uri=f"s3://{bucket}/data/",
                    local_path="/opt/ml/processing/input/data",
                    s3_data_type="S3Prefix",
                    s3_input_mode="File",
                ),
            )
        ],
        outputs=[
            ProcessingOutput(
                output_name="result",
                s3_output=ProcessingS3Output(
                    s3_uri=f"s3://{bucket}/sdk-out",
                    local_path="/opt/ml/processing/output/result",
                    s3_upload_mode="EndOfJob",
                ),
            )
        ],
        arguments=["ok"],
        logs=True,  # the SDK tails the job through DescribeLogStreams + GetLogEvents
    )

    name = processor.latest_job.processing_job_name
    job = aws.client("sagemaker").describe_processing_job(ProcessingJobName=name)
    assert job["ProcessingJobStatus"] == "Completed"
    assert job["ProcessingInputs"][-1]["S3Input"]["S3Uri"].startswith(f"s3://{bucket}/{name}/input/code/")
    outputs = s3_objects(bucket, "sdk-out/")
    assert {k: json.loads(v) for k, v in outputs.items()} == {
        f"sdk-out/algo-{i}.json": {"rows": 5, "host": f"algo-{i}"} for i in (1, 2)
    }
    printed = capsys.readouterr().out
    for host in ("algo-1", "algo-2"):  # both hosts' streams, printed by the SDK
        assert f"{host} starting, mode ok" in printed and f"{host} done, rows 5" in printed


def test_sdk_log_tailing_resumes_from_its_positions(
    session, aws: Endpoint, bucket: str, release: Path, capsys: pytest.CaptureFixture
) -> None:
    """The SDK's own tailing step (what ``logs_for_processing_job`` runs at every poll) on a live job.

    Called directly because its caller sleeps 10 s per poll and describes the job every 30 s. Its
    positions are (timestamp, count already read at that timestamp) and it reads with ``startTime``.
    """
    from sagemaker.core.common_utils import _flush_log_streams, _logs_init

    seed_bucket(bucket)
    sm = aws.client("sagemaker")
    name = unique("sdk-tail")
    sm.create_processing_job(**job_request(name, bucket, "wait", hosts=2, env={"RELEASE_FILE": str(release)}))
    description = sm.describe_processing_job(ProcessingJobName=name)
    count, streams, positions, client, group, dot, color_wrap = _logs_init(
        session.boto_session, description, job="Processing"
    )
    assert group == LOG_GROUP and count == 2

    printed = ""
    for _ in range(300):  # until both hosts have started (at most 30 s)
        _flush_log_streams(streams, count, client, group, name, positions, dot, color_wrap)
        printed += capsys.readouterr().out
        if "algo-1 starting" in printed and "algo-2 starting" in printed:
            break
        wait_for(sm, name, ("InProgress",), timeout=1)
    assert "released" not in printed
    release.touch()
    wait_for(sm, name)
    _flush_log_streams(streams, count, client, group, name, positions, dot, color_wrap)
    later = capsys.readouterr().out

    assert "algo-1 released" in later and "algo-2 done, rows 5" in later
    assert "starting" not in later  # nothing read twice
    assert sorted(positions) == [
        f"{name}/algo-{i}-{int(description['CreationTime'].timestamp())}" for i in (1, 2)
    ]
