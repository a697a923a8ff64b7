"""The scikit-learn request against the SDK v2's verified shapes (reference §1.4) and botocore."""

from __future__ import annotations

import re

import pytest
from request_support import build_and_upload
from sagemaker_processing_provider.errors import RequestError
from sagemaker_processing_provider.request.images import sklearn_image_uri, spark_image_uri
from sagemaker_processing_provider.request.params import SKLearnParams
from sagemaker_processing_provider.request.sklearn import build_sklearn_request

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
REGION = "us-east-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
JOB = "abalone-fe-0123456789ab-t1"


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "preprocess.py"
    path.write_text("print('preprocess')\n")
    return path


def build(stager, script, **overrides):
    params = dict(
        job_name=JOB,
        framework_version="1.2-1",
        role=ROLE,
        code=str(script),
        instance_type="ml.m5.xlarge",
        inputs=[{"source": "s3://my-bucket/raw/abalone.csv", "destination": "/opt/ml/processing/input/data"}],
        outputs=[{"source": "/opt/ml/processing/output/features"}],
        region=REGION,
        stager=stager,
        default_output_prefix="file:///tmp/default-outputs",
    )
    params.update(overrides)
    return build_and_upload(build_sklearn_request, SKLearnParams, **params)


def test_matches_the_sdk_shape_on_aws(s3_stager, bucket, script, validate_request):
    request = build(s3_stager, script, default_output_prefix=f"s3://{bucket}")
    validate_request(request)
    assert request["AppSpecification"] == {
        "ImageUri": SKLEARN_IMAGE,
        "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/preprocess.py"],
    }
    assert request["ProcessingResources"] == {
        "ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    }
    user, code = request["ProcessingInputs"]
    assert user == {
        "InputName": "input-1",
        "AppManaged": False,
        "S3Input": {
            "S3Uri": "s3://my-bucket/raw/abalone.csv",
            "LocalPath": "/opt/ml/processing/input/data",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
            "S3CompressionType": "None",
        },
    }
    assert code["InputName"] == "code" and code["S3Input"]["LocalPath"] == "/opt/ml/processing/input/code"
    assert re.fullmatch(rf"s3://{bucket}/code/[0-9a-f]{{16}}/preprocess\.py", code["S3Input"]["S3Uri"])
    assert code["S3Input"]["S3DataType"] == "S3Prefix"
    assert request["ProcessingOutputConfig"] == {
        "Outputs": [
            {
                "OutputName": "output-1",
                "AppManaged": False,
                "S3Output": {
                    "S3Uri": f"s3://{bucket}/{JOB}/output/output-1",
                    "LocalPath": "/opt/ml/processing/output/features",
                    "S3UploadMode": "EndOfJob",
                },
            }
        ]
    }
    # Omitted like the SDK when not given.
    assert not {"Environment", "NetworkConfig", "StoppingCondition", "Tags"} & set(request)


def test_all_optional_fields(local_stager, script, tmp_path, validate_request):
    data = tmp_path / "data"
    data.mkdir()
    (data / "abalone.csv").write_text("sex,rings\nM,15\n")
    request = build(
        local_stager,
        script,
        image_uri="my.registry/sklearn:custom",
        inputs=[
            {"source": str(data), "destination": "/opt/ml/processing/input/data", "input_name": "raw"},
            {
                "source": "s3://b/manifest",
                "destination": "/opt/ml/processing/input/m",
                "s3_data_type": "ManifestFile",
                "s3_input_mode": "Pipe",
                "s3_compression_type": "Gzip",
                "s3_data_distribution_type": "ShardedByS3Key",
            },
        ],
        outputs=[
            {
                "source": "/opt/ml/processing/output/a",
                "destination": str(tmp_path / "out"),
                "output_name": "a",
            },
            {
                "source": "/opt/ml/processing/output/b",
                "destination": "s3://b/x",
                "s3_upload_mode": "Continuous",
            },
        ],
        arguments=["--train-ratio", 0.7, "--seed", 42],
        env={"MODE": "test", "WORKERS": 2},
        command=["python3", "-u"],
        instance_count="2",
        volume_size_in_gb=50,
        volume_kms_key="vol-key",
        output_kms_key="out-key",
        max_runtime_in_seconds=3600,
        tags={"team": "ml", "cost": 1},
        network_config={
            "enable_network_isolation": True,
            "security_group_ids": ["sg-1"],
            "subnets": ["sn-1"],
        },
    )
    swapped = validate_request(request)
    assert swapped["ProcessingInputs"][0]["S3Input"]["S3Uri"].startswith("s3://local-bucket/")
    assert request["AppSpecification"] == {
        "ImageUri": "my.registry/sklearn:custom",
        "ContainerEntrypoint": ["python3", "-u", "/opt/ml/processing/input/code/preprocess.py"],
        "ContainerArguments": ["--train-ratio", "0.7", "--seed", "42"],
    }
    assert [i["InputName"] for i in request["ProcessingInputs"]] == ["raw", "input-2", "code"]
    assert request["ProcessingInputs"][0]["S3Input"]["S3Uri"] == data.resolve().as_uri()
    assert request["ProcessingInputs"][2]["S3Input"]["S3Uri"] == script.resolve().as_uri()
    outputs = request["ProcessingOutputConfig"]
    assert outputs["KmsKeyId"] == "out-key"
    assert [o["OutputName"] for o in outputs["Outputs"]] == ["a", "output-2"]
    assert outputs["Outputs"][0]["S3Output"]["S3Uri"] == (tmp_path / "out").resolve().as_uri()
    assert outputs["Outputs"][1]["S3Output"]["S3UploadMode"] == "Continuous"
    assert request["ProcessingResources"]["ClusterConfig"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 2,
        "VolumeSizeInGB": 50,
        "VolumeKmsKeyId": "vol-key",
    }
    assert request["Environment"] == {"MODE": "test", "WORKERS": "2"}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert request["Tags"] == [{"Key": "team", "Value": "ml"}, {"Key": "cost", "Value": "1"}]
    assert request["NetworkConfig"] == {
        "EnableNetworkIsolation": True,
        "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["sn-1"]},
    }


def test_s3_code_is_used_as_is(local_stager, script):
    request = build(local_stager, script, code="s3://my-bucket/scripts/fe.py", outputs=None)
    assert request["ProcessingInputs"][-1]["S3Input"]["S3Uri"] == "s3://my-bucket/scripts/fe.py"
    assert request["AppSpecification"]["ContainerEntrypoint"][-1] == "/opt/ml/processing/input/code/fe.py"
    assert "ProcessingOutputConfig" not in request


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"framework_version": None}, "framework_version"),
        ({"framework_version": "9.9"}, "framework_version"),
        ({"instance_type": "ml.p3.2xlarge"}, "instance_type"),
        ({"instance_type": "m5.huge"}, "instance_type"),
        ({"region": "xx-nowhere-1"}, "region"),
        ({"role": "MySageMakerRole"}, "role"),
        ({"job_name": "bad_name"}, "job_name"),
        ({"code": "/does/not/exist.py"}, "code"),
        ({"instance_count": 0}, "instance_count"),
        ({"max_runtime_in_seconds": 10**7}, "max_runtime_in_seconds"),
        ({"arguments": ["--x", None]}, "arguments[1]"),
        ({"env": {"1BAD": "x"}}, "env['1BAD']"),
        ({"tags": [{"Key": "a"}]}, "tags[0]"),
        ({"network_config": {"subnets": ["sn-1"]}}, "network_config"),
        ({"network_config": {"vpc": "x"}}, "network_config.vpc"),
        ({"inputs": [{"destination": "/opt/ml/processing/input/x"}]}, "inputs[0].source"),
        ({"inputs": [{"source": "s3://b/k", "destination": "/tmp/x"}]}, "inputs[0].destination"),
        ({"inputs": [{"source": "s3://b/k", "destination": "/opt/ml/processing/i", "s3_input_mode": "FastFile"}]},
         "inputs[0].s3_input_mode"),
        ({"inputs": [{"source": "s3://b/k", "destination": "/opt/ml/processing/i", "s3_compression_type": "Gzip"}]},
         "inputs[0].s3_compression_type"),
        ({"inputs": [{"source": "ftp://h/k", "destination": "/opt/ml/processing/i"}]}, "inputs[0].source"),
        ({"inputs": [{"source": "s3://b/k", "destination": "/opt/ml/processing/i", "typo": 1}]}, "inputs[0].typo"),
        ({"inputs": [{"source": "s3://b/k", "destination": "/opt/ml/processing/i", "input_name": "code"}]}, "inputs"),
        ({"inputs": {"source": "s3://b/k"}}, "inputs"),
        ({"outputs": [{"source": "/opt/ml/processing/o"}], "default_output_prefix": None}, "outputs[0].destination"),
        ({"outputs": [{"source": "/opt/ml/processing/o", "destination": "s3://b/o", "s3_upload_mode": "x"}]},
         "outputs[0].s3_upload_mode"),
    ],
)  # fmt: skip
def test_bad_parameters_name_the_field(local_stager, script, overrides, field):
    with pytest.raises(RequestError) as err:
        build(local_stager, script, **overrides)
    assert err.value.field == field, str(err.value)


def test_local_output_destination_refused_on_aws(s3_stager, script, tmp_path):
    outputs = [{"source": "/opt/ml/processing/o", "destination": str(tmp_path / "o")}]
    with pytest.raises(RequestError, match="s3:// URI on AWS") as err:
        build(s3_stager, script, outputs=outputs)
    assert err.value.field == "outputs[0].destination"


def test_code_folder_is_refused(local_stager, script):
    with pytest.raises(RequestError, match="folder") as err:
        build(local_stager, script, code=str(script.parent))
    assert err.value.field == "code"


def test_image_uris_follow_the_sdk():
    assert sklearn_image_uri("1.2-1", "us-east-1") == SKLEARN_IMAGE
    assert spark_image_uri(None, "us-east-1").endswith("/sagemaker-spark-processing:3.5-cpu")
    assert spark_image_uri("3.5", "us-east-1", "py39", "1").endswith(":3.5-cpu-py39-v1")
    with pytest.raises(RequestError, match="supported: .*3.5") as err:
        spark_image_uri("3.4", "us-east-1")
    assert err.value.field == "framework_version"
    with pytest.raises(RequestError) as err:
        spark_image_uri("3.5", "us-east-1", py_version="py39")
    assert err.value.field == "container_version"
