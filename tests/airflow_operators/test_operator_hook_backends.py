"""ProcessingHook: the backend choice, and the AWS path against moto's real server (S3, SageMaker, logs)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from airflow_operators_support import context, sklearn_operator
from sagemaker_processing_provider.backends.cloudwatch import LOG_GROUP
from sagemaker_processing_provider.errors import RequestError
from sagemaker_processing_provider.hooks.processing import ProcessingHook
from sagemaker_processing_provider.links.processing import ProcessingJobLink, ProcessingLogsLink

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
MOTO_ACCOUNT = "123456789012"


def _conn(monkeypatch: pytest.MonkeyPatch, extra: dict | None) -> None:
    value = {"conn_type": "aws", **({"extra": extra} if extra is not None else {})}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(value))


# -- backend choice ------------------------------------------------------------------------------------


def test_local_backend_from_the_connection_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _conn(monkeypatch, {"processing_backend": "local", "local_home": str(tmp_path / "elsewhere")})
    backend = ProcessingHook().backend
    assert backend.name == "local"
    assert Path(backend.home) == tmp_path / "elsewhere"
    assert backend.console_urls("j-1") == {
        "job": "/sm-processing/jobs/j-1",
        "logs": "/sm-processing/jobs/j-1/log",
    }


@pytest.mark.parametrize("extra", [None, {}, {"region_name": "eu-west-1"}, {"processing_backend": "AWS"}])
def test_absent_extra_means_aws(monkeypatch: pytest.MonkeyPatch, extra: dict | None) -> None:
    _conn(monkeypatch, extra)
    assert ProcessingHook().backend.name == "aws"


@pytest.mark.parametrize("value", ["locla", "", "docker", 1, None])
def test_unknown_backend_is_an_error_not_a_local_run(monkeypatch: pytest.MonkeyPatch, value) -> None:
    _conn(monkeypatch, {"processing_backend": value})
    with pytest.raises(RequestError, match="processing_backend") as info:
        _ = ProcessingHook().backend
    assert "'aws', 'local'" in str(info.value)


# -- AWS through the Amazon provider's hooks, against moto's server -----------------------------------


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for key, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    _conn(monkeypatch, {"region_name": "us-east-1"})
    return moto_server


def test_aws_stager_uploads_to_the_sdk_default_bucket(aws: str, tmp_path: Path) -> None:
    backend = ProcessingHook().backend
    assert backend.name == "aws" and backend.client.meta.endpoint_url == aws
    stager = backend.stager()
    assert stager.bucket == f"sagemaker-us-east-1-{MOTO_ACCOUNT}"
    script = tmp_path / "job.py"
    script.write_text("print('hi')\n")
    uri = stager.stage_file(script)
    stager.upload()
    assert uri.startswith(f"s3://{stager.bucket}/processing-code/") and uri.endswith("/job.py")
    assert backend.stager().stage_file(script) == uri  # content-addressed: same bytes, same key
    key = uri.split("/", 3)[3]
    assert stager.client.get_object(Bucket=stager.bucket, Key=key)["Body"].read() == b"print('hi')\n"
    with pytest.raises(RequestError, match="code_location"):
        backend.stager("https://example.com/x")


def test_operator_on_aws_creates_and_describes_through_sagemaker(aws: str, tmp_path: Path) -> None:
    files = {"script": tmp_path / "job.py", "data": tmp_path, "out": tmp_path, "release": tmp_path / "r"}
    files["script"].write_text("print('hi')\n")
    ctx = context()
    operator = sklearn_operator(
        files,
        role=ROLE,
        inputs=[{"source": "s3://raw-data/abalone/", "destination": "/opt/ml/processing/input/data"}],
        outputs=[{"source": "/opt/ml/processing/output/result", "output_name": "result"}],
        code_location="s3://my-code-bucket/team-a",
    )
    import boto3

    boto3.client("s3").create_bucket(Bucket="my-code-bucket")  # a given code_location must exist
    result = operator.execute(ctx)

    name = result["job_name"]
    assert result["backend"] == "aws" and result["status"] == "Completed"  # moto completes at once
    assert result["arn"].endswith(f"processing-job/{name}")
    assert result["inputs"]["input-1"] == "s3://raw-data/abalone/"
    assert "code" not in result["inputs"]  # the script is plumbing, not a dataset
    code = [i for i in result["Processing"]["ProcessingInputs"] if i["InputName"] == "code"][0]
    assert code["S3Input"]["S3Uri"].startswith("s3://my-code-bucket/team-a/")
    assert result["outputs"] == {"result": f"s3://my-code-bucket/{name}/output/result"}
    sent = boto3.client("sagemaker").describe_processing_job(ProcessingJobName=name)
    assert sent["AppSpecification"]["ContainerEntrypoint"] == [
        "python3",
        "/opt/ml/processing/input/code/job.py",
    ]
    assert ctx["ti"].xcoms[ProcessingJobLink.key] == (
        f"https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/processing-jobs/{name}"
    )
    assert (
        ctx["ti"]
        .xcoms[ProcessingLogsLink.key]
        .endswith(
            "#logsV2:log-groups/log-group/$252Faws$252Fsagemaker$252FProcessingJobs"
            f"$3FlogStreamNameFilter$3D{name}$252F"
        )
    )
    # a retry of a completed job runs again (new name), unless reuse_completed_job
    again = operator.execute(context(try_number=2))
    assert again["job_name"] != name and again["job_name"].endswith("-t2")


def test_aws_role_is_required(aws: str, tmp_path: Path) -> None:
    files = {"script": tmp_path / "job.py", "data": tmp_path, "out": tmp_path, "release": tmp_path / "r"}
    files["script"].write_text("print('hi')\n")
    operator = sklearn_operator(files, inputs=None, outputs=None, code_location="s3://my-code-bucket/x")
    with pytest.raises(RequestError, match="role"):
        operator.execute(context(dag_id="no_role_dag"))


def test_aws_role_name_is_expanded_through_iam(aws: str, tmp_path: Path) -> None:
    import boto3

    trust = '{"Version": "2012-10-17", "Statement": []}'
    arn = boto3.client("iam").create_role(RoleName="TeamProcessing", AssumeRolePolicyDocument=trust)
    files = {"script": tmp_path / "job.py", "data": tmp_path, "out": tmp_path, "release": tmp_path / "r"}
    files["script"].write_text("print('hi')\n")
    boto3.client("s3").create_bucket(Bucket="role-code-bucket")
    operator = sklearn_operator(
        files, role="TeamProcessing", inputs=None, outputs=None, code_location="s3://role-code-bucket/x"
    )
    name = operator.execute(context(dag_id="role_name_dag"))["job_name"]
    sent = boto3.client("sagemaker").describe_processing_job(ProcessingJobName=name)
    assert sent["RoleArn"] == arn["Role"]["Arn"]


def test_aws_log_lines_come_from_cloudwatch_streams(aws: str) -> None:
    import time

    import boto3

    now = int(time.time() * 1000)  # CloudWatch drops events older than 14 days
    logs = boto3.client("logs")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):  # one moto per session
        logs.create_log_group(logGroupName=LOG_GROUP)
    for host in ("algo-1-1700000000", "algo-2-1700000000"):
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=f"job-a/{host}")
        logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName=f"job-a/{host}",
            logEvents=[{"timestamp": now + i, "message": f"{host[:6]} line {i}"} for i in range(2)],
        )
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="job-ab/algo-1-1")  # another job

    backend = ProcessingHook().backend
    lines, cursor = backend.log_events("job-a", None)
    assert lines == [
        "[algo-1-1700000000] algo-1 line 0",
        "[algo-1-1700000000] algo-1 line 1",
        "[algo-2-1700000000] algo-2 line 0",
        "[algo-2-1700000000] algo-2 line 1",
    ]
    assert json.loads(json.dumps(cursor)) == cursor
    assert backend.log_events("job-a", cursor)[0] == []
    logs.put_log_events(
        logGroupName=LOG_GROUP,
        logStreamName="job-a/algo-2-1700000000",
        logEvents=[{"timestamp": now + 9, "message": "late line"}],
    )
    assert backend.log_events("job-a", cursor)[0] == ["[algo-2-1700000000] late line"]
    assert ProcessingHook().backend.log_events("job-never-ran", None) == ([], {})


def test_aws_logs_of_sixty_hosts_are_all_read(aws: str) -> None:
    """DescribeLogStreams pages at 50 streams: every page is read."""
    import time

    import boto3

    now = int(time.time() * 1000)
    logs = boto3.client("logs")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):  # one moto per session
        logs.create_log_group(logGroupName=LOG_GROUP)
    for n in range(1, 61):
        stream = f"job-60/algo-{n}-1700000000"
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": now, "message": f"host {n}"}],
        )
    lines, cursor = ProcessingHook().backend.log_events("job-60", None)
    assert len(lines) == 60 and len(cursor) == 60
    assert lines[0] == "[algo-1-1700000000] host 1" and lines[-1] == "[algo-60-1700000000] host 60"


def _job_count() -> int:
    import boto3

    return len(boto3.client("sagemaker").list_processing_jobs(MaxResults=100)["ProcessingJobSummaries"])


def _code_objects(bucket: str) -> list[dict]:
    import boto3

    return boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])


def test_aws_uploads_use_the_output_kms_key(aws: str, tmp_path: Path) -> None:
    import boto3

    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    files = {
        "script": tmp_path / "job.py",
        "data": tmp_path / "d",
        "out": tmp_path,
        "release": tmp_path / "r",
    }
    files["script"].write_text("print('hi')\n")
    files["data"].mkdir()
    (files["data"] / "part.csv").write_text("a\n1\n")
    boto3.client("s3").create_bucket(Bucket="kms-code-bucket")
    operator = sklearn_operator(
        files, role=ROLE, outputs=None, output_kms_key=key, code_location="s3://kms-code-bucket/x"
    )
    operator.execute(context(dag_id="kms_dag"))
    objects = _code_objects("kms-code-bucket")
    assert {o["Key"].rsplit("/", 1)[1] for o in objects} == {"job.py", "part.csv"}
    for obj in objects:
        head = boto3.client("s3").head_object(Bucket="kms-code-bucket", Key=obj["Key"])
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"arguments": ["x" * 257]}, "ContainerArguments"),
        (
            {"inputs": [{"source": "s3://raw/a", "destination": "/opt/ml/processing/input/code"}]},
            "LocalPath",
        ),
        (
            {
                "inputs": [
                    {"source": "s3://raw/a", "destination": "/opt/ml/processing/input/a"},
                    {"source": "s3://raw/b", "destination": "/opt/ml/processing/input/a"},
                ]
            },
            "LocalPath",
        ),
    ],
)
def test_aws_request_is_validated_before_any_upload(
    aws: str, tmp_path: Path, overrides: dict, field: str
) -> None:
    import boto3
    from botocore.exceptions import ClientError

    files = {"script": tmp_path / "job.py", "data": tmp_path, "out": tmp_path, "release": tmp_path / "r"}
    files["script"].write_text("print('hi')\n")
    boto3.client("s3").create_bucket(Bucket="checked-code-bucket")
    jobs_before = _job_count()
    operator = sklearn_operator(
        files, role=ROLE, outputs=None, code_location="s3://checked-code-bucket/x", **overrides
    )
    with pytest.raises(ClientError, match=field) as info:
        operator.execute(context(dag_id="checked_dag"))
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert _code_objects("checked-code-bucket") == []  # nothing was uploaded
    assert _job_count() == jobs_before  # and no job was created
