"""A request AWS (or the local backend) would reject fails before anything runs, naming the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ParamValidationError
from local_backend_support import make_request
from sagemaker_processing_provider.api import client_errors
from sagemaker_processing_provider.api.validation import validate_create_request


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


def _victim(folder: Path, name: str) -> None:
    """A job folder (as a store writes it) for a name-traversal attempt to find."""
    job = folder / "jobs" / name
    job.mkdir(parents=True)
    (job / "request.json").write_text(json.dumps(make_request(name)))
    (job / "state.json").write_text(json.dumps({"ProcessingJobStatus": "Completed", "CreationTime": "2024"}))
    (job / "output.log").write_text("the victim's log\n")


BAD_NAMES = ["../../other-store/jobs/victim", "../victim", "a/b", "..", ".", "", "x" * 64, "bad_name", 7]


@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n) for n in BAD_NAMES])
def test_names_are_validated_on_every_call(backend, home, name):
    """Item 11: on main, describe/logs/stop took '../../other-store/jobs/victim' as a path and read
    another store's job; now every call refuses a name SageMaker would refuse, naming the field."""
    _victim(home.parent / "other-store", "victim")
    calls = {
        "describe": lambda: backend.describe_processing_job(ProcessingJobName=name),
        "stop": lambda: backend.stop_processing_job(ProcessingJobName=name),
        "logs": lambda: backend.get_log_events(ProcessingJobName=name),
        "folder": lambda: backend.job_folder(name),
    }
    for call in calls.values():
        with pytest.raises(client_errors.ValidationException) as info:
            call()
        assert info.value.field == "ProcessingJobName"
    assert (home.parent / "other-store/jobs/victim/state.json").read_text().count("Completed") == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"StartFromOffset": -1}, "StartFromOffset"), ({"StartFromOffset": True}, "StartFromOffset")],
)
def test_log_offsets_are_validated(backend, kwargs, field):
    with pytest.raises(client_errors.ValidationException) as info:
        backend.get_log_events(ProcessingJobName="any-job", **kwargs)
    assert info.value.field == field


def test_list_filters_are_validated(backend):
    """``MaxResults=True`` passed botocore's check (a bool is an int) and sliced the list by True."""
    with pytest.raises(client_errors.ValidationException, match="MaxResults"):
        backend.list_processing_jobs(MaxResults=True)
    with pytest.raises(ParamValidationError, match="SortOrder"):
        backend.list_processing_jobs(SortOrder=3)


def _s3_request(**changes: Any) -> dict[str, Any]:
    request = make_request(
        "aws-job",
        ProcessingInputs=[s3_input("a", "/opt/ml/processing/in"), s3_input("b", "/opt/ml/processing/in/b")],
        ProcessingOutputConfig={"Outputs": [s3_output("o", "/opt/ml/processing/out", "s3://bucket/a/../o")]},
    )
    request.update(changes)
    return request


def test_aws_mode_keeps_the_service_rules_only():
    """The AWS backend validates with ``local=False``: what S3/SageMaker accept stays accepted
    (nested LocalPaths, '..' in a key, any image, an AppManaged input without LocalPath) while what
    no backend can run is refused (a missing LocalPath, NUL characters, true as a number)."""
    request = _s3_request()
    request["AppSpecification"]["ImageUri"] = "123.dkr.ecr.us-east-1.amazonaws.com/mine:1"
    request["ProcessingInputs"].append(
        {"InputName": "m", "AppManaged": True, "S3Input": {"S3Uri": "s3://b/m", "S3DataType": "S3Prefix"}}
    )
    validate_create_request(request, local=False)
    refused = {
        "ProcessingInputs[0].S3Input.LocalPath": lambda r: r["ProcessingInputs"][0]["S3Input"].pop(
            "LocalPath"
        ),
        "Environment": lambda r: r.update(Environment={"A": "x\0y"}),
        "InstanceCount": lambda r: r["ProcessingResources"]["ClusterConfig"].update(InstanceCount=True),
    }
    for field, change in refused.items():
        bad = _s3_request()
        change(bad)
        with pytest.raises(client_errors.ValidationException) as info:
            validate_create_request(bad, local=False)
        assert field in str(info.value)
    with pytest.raises(client_errors.ValidationException, match="inside"):
        validate_create_request(_s3_request(), local=True)
