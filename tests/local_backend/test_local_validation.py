"""A request AWS (or the local backend) would reject fails before anything runs, naming the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ParamValidationError
from local_backend_support import make_request
from sagemaker_processing_provider.api import client_errors


def s3_input(name: str, local: str, uri: str = "s3://bucket/in", **extra: Any) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            **extra,
        },
    }


def s3_output(name: str, local: str, uri: str = "s3://bucket/out") -> dict[str, Any]:
    return {"OutputName": name, "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": "EndOfJob"}}


def _with(path: str, value: Any) -> dict[str, Any]:
    """The base request with one field replaced (dotted path, list indexes as numbers)."""
    request = make_request("valid-job", ProcessingInputs=[s3_input("data", "/opt/ml/processing/input/data")])
    target: Any = request
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    target[keys[-1]] = value
    return request


def _no_jobs(home: Path) -> bool:
    jobs = home / "jobs"
    return not jobs.exists() or not any(jobs.iterdir())


SHAPE_ERRORS = [
    ("RoleArn", None, "RoleArn"),  # None -> removed
    ("ProcessingResources.ClusterConfig.InstanceCount", "2", "InstanceCount"),
    ("ProcessingResources.ClusterConfig.InstanceCount", 0, "InstanceCount"),
    ("AppSpecification.ContainerEntrypoint", [], "ContainerEntrypoint"),
    ("Environment", {"A": 1}, "Environment"),
    ("Bogus", "x", "Bogus"),
]


@pytest.mark.parametrize(("path", "value", "field"), SHAPE_ERRORS)
def test_shape_errors_are_botocore_param_validation_errors(backend, home, path, value, field):
    request = _with(path, value)
    if value is None:
        del request[path]
    with pytest.raises(ParamValidationError, match=field):
        backend.create_processing_job(**request)
    assert _no_jobs(home)


def _inputs(n: int) -> list[dict[str, Any]]:
    return [s3_input(f"in{i}", f"/opt/ml/processing/input/{i}") for i in range(n)]


RULES = [
    ("ProcessingJobName", "bad_name", "ProcessingJobName"),
    ("ProcessingJobName", "-leading", "ProcessingJobName"),
    ("ProcessingJobName", "a" * 64, "ProcessingJobName"),
    ("ProcessingInputs", [s3_input("a", "/tmp/data")], "ProcessingInputs[0].S3Input.LocalPath"),
    ("ProcessingInputs", [s3_input("a", "/opt/ml/processing")], "ProcessingInputs[0].S3Input.LocalPath"),
    ("ProcessingInputs", [s3_input("a", "/opt/ml/processing/../x")], "ProcessingInputs[0].S3Input.LocalPath"),
    ("ProcessingInputs", _inputs(11), "ProcessingInputs"),
    (
        "ProcessingInputs",
        [s3_input("a", "/opt/ml/processing/a"), s3_input("a", "/opt/ml/processing/b")],
        "ProcessingInputs[1].InputName",
    ),
    (
        "ProcessingInputs",
        [s3_input("a", "/opt/ml/processing/a"), s3_input("b", "/opt/ml/processing/a/")],
        "ProcessingInputs[1].S3Input.LocalPath",
    ),
    (
        "ProcessingInputs",
        [s3_input("a", "/opt/ml/processing/in", S3CompressionType="Gzip")],
        "S3CompressionType",
    ),
    ("ProcessingInputs", [s3_input("a", "/opt/ml/processing/in", S3InputMode="Pipe")], "Pipe mode"),
    ("ProcessingInputs", [s3_input("a", "/opt/ml/processing/in", S3InputMode="Fast")], "S3InputMode"),
    ("ProcessingInputs", [s3_input("a", "/opt/ml/processing/in", uri="http://x/y")], "S3Input.S3Uri"),
    ("ProcessingInputs", [s3_input("a", "/opt/ml/processing/in", uri="relative/dir")], "S3Input.S3Uri"),
    (
        "ProcessingInputs",
        [{"InputName": "q", "DatasetDefinition": {"LocalPath": "/opt/ml/processing/q"}}],
        "DatasetDefinition",
    ),
    ("Environment", {f"K{i}": "v" for i in range(101)}, "Environment"),
    ("Environment", {"1BAD": "v"}, "Environment"),
    ("AppSpecification.ContainerArguments", ["x"] * 101, "ContainerArguments"),
    ("AppSpecification.ContainerEntrypoint", ["python3"] * 101, "ContainerEntrypoint"),
    ("ProcessingResources.ClusterConfig.InstanceCount", 101, "InstanceCount"),
    ("ProcessingResources.ClusterConfig.InstanceType", "ml.huge", "InstanceType"),
    ("StoppingCondition", {"MaxRuntimeInSeconds": 777601}, "MaxRuntimeInSeconds"),
    ("RoleArn", "arn:aws:iam::123:role/x" + "", "RoleArn"),
    ("AppSpecification.ImageUri", "123.dkr.ecr.us-east-1.amazonaws.com/my-image:1", "my-image"),
    ("NetworkConfig", {"VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["s-1"]}}, "VpcConfig"),
]


@pytest.mark.parametrize(
    ("path", "value", "expected"), RULES, ids=[f"{r[0]}-{i}" for i, r in enumerate(RULES)]
)
def test_sagemaker_rules_are_validation_exceptions(backend, home, path, value, expected):
    with pytest.raises(client_errors.ValidationException) as info:
        backend.create_processing_job(**_with(path, value))
    assert expected in str(info.value)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert _no_jobs(home)


def test_output_rules(backend, home):
    base = make_request("out-job")
    cases = {
        "ProcessingOutputConfig.Outputs[0].S3Output.LocalPath": [s3_output("o", "/opt/ml/output/x")],
        "ProcessingOutputConfig.Outputs[1].OutputName": [
            s3_output("o", "/opt/ml/processing/o1"),
            s3_output("o", "/opt/ml/processing/o2"),
        ],
        "FeatureStoreOutput": [{"OutputName": "f", "FeatureStoreOutput": {"FeatureGroupName": "fg"}}],
        "ProcessingOutputConfig.Outputs[0].S3Output.S3Uri": [
            s3_output("o", "/opt/ml/processing/o", "ftp://x")
        ],
    }
    for expected, outputs in cases.items():
        request = copy.deepcopy(base)
        request["ProcessingOutputConfig"] = {"Outputs": outputs}
        with pytest.raises(
            client_errors.ValidationException, match=expected.replace("[", r"\[").replace("]", r"\]")
        ):
            backend.create_processing_job(**request)
    # an input and an output may not share a LocalPath either
    request = copy.deepcopy(base)
    request["ProcessingInputs"] = [s3_input("i", "/opt/ml/processing/shared")]
    request["ProcessingOutputConfig"] = {"Outputs": [s3_output("o", "/opt/ml/processing/shared")]}
    with pytest.raises(client_errors.ValidationException, match="also used by ProcessingInputs"):
        backend.create_processing_job(**request)
    assert _no_jobs(home)


def test_local_uris_are_accepted_and_names_are_unique(backend, home, tmp_path):
    request = make_request(
        "local-uris",
        ProcessingInputs=[
            s3_input("a", "/opt/ml/processing/a", uri=f"file://{tmp_path}"),
            s3_input("b", "/opt/ml/processing/b", uri=str(tmp_path)),
        ],
        ProcessingOutputConfig={
            "Outputs": [s3_output("o", "/opt/ml/processing/o", f"file://{tmp_path}/out")]
        },
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )
    assert backend.create_processing_job(**request)["ProcessingJobArn"].endswith("processing-job/local-uris")
    with pytest.raises(client_errors.ResourceInUse) as info:
        backend.create_processing_job(**request)
    assert info.value.response["Error"]["Code"] == "ResourceInUse"
    assert [p.name for p in (home / "jobs").iterdir()] == ["local-uris"]


def test_unknown_image_names_the_image_and_the_fix(backend, home):
    request = make_request("img", AppSpecification={"ImageUri": "my-registry.io/team/custom:1"})
    with pytest.raises(client_errors.ValidationException) as info:
        backend.create_processing_job(**request)
    message = str(info.value)
    assert "my-registry.io/team/custom:1" in message and "SM_PROCESSING_IMAGE_MAP" in message
    assert _no_jobs(home)
