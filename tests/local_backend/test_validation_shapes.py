"""The cached processing shapes (api/shapes.py) validate exactly as botocore's full model does.

The cache is what makes ``sm-processing run`` skip botocore's model load; these tests prove it
never changes a verdict or a message: its shapes mirror botocore's, and for several hundred mutated
requests (each field removed, set to None or to a wrong type, an unknown key in each object, too
short, too long, bools for numbers) ``validate_shape`` + ``check_model_limits`` answer exactly as
botocore's ``validate_parameters`` + the same walk over botocore's own shapes do.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from botocore.validate import validate_parameters
from sagemaker_processing_provider.api import shapes, validation

OPERATIONS = shapes.OPERATIONS
WRONG_VALUES = [None, True, 0, -1, 1.5, "", "x", [], {}, ["x"], {"k": "v"}, b"x"]


@pytest.fixture(scope="module")
def model() -> Any:
    return botocore.session.get_session().get_service_model("sagemaker")


def _mirror(mine: shapes.Shape, theirs: Any, path: str, seen: set[str]) -> None:
    assert (mine.name, mine.type_name, mine.metadata) == (theirs.name, theirs.type_name, theirs.metadata), (
        path
    )
    if theirs.name in seen:
        return
    seen.add(theirs.name)
    if theirs.type_name == "structure":
        assert list(mine.members) == list(theirs.members), path
        for key, member in theirs.members.items():
            _mirror(mine.members[key], member, f"{path}.{key}", seen)
    elif theirs.type_name == "list":
        _mirror(mine.member, theirs.member, f"{path}[]", seen)
    elif theirs.type_name == "map":
        _mirror(mine.key, theirs.key, f"{path}.key", seen)
        _mirror(mine.value, theirs.value, f"{path}.value", seen)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_cached_shapes_mirror_botocore(model, operation):
    cached = shapes.input_shapes()
    assert cached is not None, "no usable cache on this machine (AWS_DATA_PATH or ~/.aws/models?)"
    _mirror(cached[operation], model.operation_model(operation).input_shape, operation, set())
    assert validation.input_shape(operation) is cached[operation]


def _rich_request() -> dict[str, Any]:
    def io(kind: str, i: int) -> dict[str, Any]:
        s3 = {"S3Uri": f"s3://bucket/{kind}{i}", "LocalPath": f"/opt/ml/processing/{kind}{i}"}
        if kind == "in":
            return {
                "InputName": f"in{i}",
                "S3Input": {**s3, "S3DataType": "S3Prefix", "S3InputMode": "File"},
            }
        return {"OutputName": f"out{i}", "S3Output": {**s3, "S3UploadMode": "EndOfJob"}}

    return {
        "ProcessingJobName": "shapes-check",
        "RoleArn": "arn:aws:iam::000000000000:role/SageMakerRole",
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 5}
        },
        "AppSpecification": {
            "ImageUri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/code/job.py"],
            "ContainerArguments": ["--n", "1"],
        },
        "ProcessingInputs": [io("in", 0), io("in", 1)],
        "ProcessingOutputConfig": {"Outputs": [io("out", 0)], "KmsKeyId": "key"},
        "Environment": {"A": "1", "B_2": "two"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "NetworkConfig": {"EnableNetworkIsolation": False, "EnableInterContainerTrafficEncryption": True},
        "Tags": [{"Key": "team", "Value": "ml"}],
        "ExperimentConfig": {"ExperimentName": "e", "TrialName": "t"},
    }


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*path, i))
    return found


def _mutations(request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for path in _paths(request):

        def edit(change: Any, label: str, path: tuple = path) -> None:
            parent_path, last = path[:-1], path[-1]
            mutated = copy.deepcopy(request)
            parent = mutated
            for key in parent_path:
                parent = parent[key]
            change(parent, last)
            cases.append((f"{'.'.join(map(str, path))}: {label}", mutated))

        edit(lambda p, k: p.pop(k), "removed")
        for wrong in WRONG_VALUES:
            edit(lambda p, k, w=wrong: p.__setitem__(k, copy.deepcopy(w)), f"= {wrong!r}")
        original = request
        for key in path:
            original = original[key]
        if isinstance(original, str):
            edit(lambda p, k: p.__setitem__(k, p[k] * 200), "too long")
            edit(lambda p, k: p.__setitem__(k, p[k] + "\0"), "NUL")
        if isinstance(original, dict):
            edit(lambda p, k: p[k].__setitem__("Bogus", 1), "unknown key")
            edit(lambda p, k: p[k].clear(), "emptied")
        if isinstance(original, list):
            edit(lambda p, k: p.__setitem__(k, tuple(p[k])), "as tuple")
            edit(lambda p, k: p[k].extend(copy.deepcopy(p[k]) * 60), "too many")
    cases.append(("unchanged", copy.deepcopy(request)))
    return cases


def _verdict(call: Any) -> tuple[str, str] | None:
    try:
        call()
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return None


def _botocore_verdict(model: Any, request: dict[str, Any], operation: str) -> tuple[str, str] | None:
    shape = model.operation_model(operation).input_shape

    def run() -> None:
        validate_parameters(request, shape)
        validation.check_model_limits(request, shape, "", operation)

    return _verdict(run)


def _cached_verdict(request: dict[str, Any], operation: str) -> tuple[str, str] | None:
    def run() -> None:
        validation.validate_shape(request, operation)
        validation.check_model_limits(request, validation.input_shape(operation), "", operation)

    return _verdict(run)


def test_create_requests_get_botocore_verdicts(model):
    cases = _mutations(_rich_request())
    assert len(cases) > 500
    differ = [
        (label, mine, theirs)
        for label, request in cases
        if (mine := _cached_verdict(request, "CreateProcessingJob"))
        != (theirs := _botocore_verdict(model, request, "CreateProcessingJob"))
    ]
    assert differ == []
    refused = sum(_botocore_verdict(model, r, "CreateProcessingJob") is not None for _, r in cases)
    assert refused > len(cases) // 2  # the mutations do reach the validator


def test_list_requests_get_botocore_verdicts(model):
    request = {
        "CreationTimeAfter": datetime(2026, 1, 1, tzinfo=UTC),
        "NameContains": "abc",
        "StatusEquals": "Completed",
        "SortBy": "Name",
        "SortOrder": "Ascending",
        "MaxResults": 10,
        "NextToken": "t",
    }
    differ = [
        (label, mine, theirs)
        for label, r in _mutations(request)
        if (mine := _cached_verdict(r, "ListProcessingJobs"))
        != (theirs := _botocore_verdict(model, r, "ListProcessingJobs"))
    ]
    assert differ == []


def test_no_cache_where_botocore_may_load_another_model(monkeypatch, tmp_path):
    assert shapes.cache_file() is not None
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    assert shapes.cache_file() is None
    monkeypatch.delenv("AWS_DATA_PATH")
    config = tmp_path / "config"
    config.write_text("[default]\ndata_path = /somewhere\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    assert shapes.cache_file() is None


def test_a_damaged_cache_is_rebuilt(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = shapes.cache_file()
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "roots": {"CreateProcessingJob": "Nope"}')  # cut short
    shapes.input_shapes.cache_clear()
    try:
        rebuilt = shapes.input_shapes()
        assert rebuilt is not None and rebuilt["CreateProcessingJob"].name == "CreateProcessingJobRequest"
        assert json.loads(path.read_text())["roots"]["CreateProcessingJob"] == "CreateProcessingJobRequest"
    finally:
        shapes.input_shapes.cache_clear()
