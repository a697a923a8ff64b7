"""``source_dir`` + ``requirements``: the SDK FrameworkProcessor's bundle and runproc.sh, staged on S3 (moto)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest
from request_support import build_and_upload
from sagemaker_processing_provider.errors import RequestError
from sagemaker_processing_provider.request import bundle
from sagemaker_processing_provider.request.params import PySparkParams, SKLearnParams
from sagemaker_processing_provider.request.sklearn import build_sklearn_request
from sagemaker_processing_provider.request.spark import build_spark_request

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
JOB = "deps-0123456789ab-t1"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "helpers").mkdir(parents=True)
    (src / "job.py").write_text("import helpers\nprint(helpers.VALUE)\n")
    (src / "helpers" / "__init__.py").write_text("VALUE = 42\n")
    (src / "requirements.txt").write_text("cowsay==6.1\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "job.cpython-311.pyc").write_bytes(b"changes with every run")
    return src


def _sklearn(stager, **overrides) -> dict:
    kwargs = dict(
        job_name=JOB, region="us-east-1", stager=stager, default_output_prefix="s3://out",
        role=ROLE, framework_version="1.2-1", instance_type="ml.m5.xlarge", code="job.py",
    )  # fmt: skip
    kwargs.update(overrides)
    return build_and_upload(build_sklearn_request, SKLearnParams, **kwargs)


def _s3_bytes(s3_stager, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return s3_stager.client.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_sklearn_bundle_on_s3_is_the_sdk_contract(s3_stager, project: Path, validate_request) -> None:
    request = _sklearn(s3_stager, source_dir=str(project), arguments=["--n", "3"])
    validate_request(request)
    app = request["AppSpecification"]
    assert app["ContainerEntrypoint"] == ["/bin/bash", "/opt/ml/processing/input/entrypoint/runproc.sh"]
    assert app["ContainerArguments"] == ["--n", "3"]
    code, entry = request["ProcessingInputs"]
    assert (code["InputName"], code["S3Input"]["LocalPath"]) == ("code", "/opt/ml/processing/input/code")
    assert (entry["InputName"], entry["S3Input"]["LocalPath"]) == (
        "entrypoint",
        "/opt/ml/processing/input/entrypoint",
    )
    assert code["S3Input"]["S3Uri"].endswith("/sourcedir.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(_s3_bytes(s3_stager, code["S3Input"]["S3Uri"]))) as tar:
        members = {m.name: (m.mtime, m.uid, m.mode) for m in tar.getmembers()}
    assert sorted(members) == ["helpers/__init__.py", "job.py", "requirements.txt"]  # no __pycache__
    assert {v[:2] for v in members.values()} == {(0, 0)}
    script = _s3_bytes(s3_stager, entry["S3Input"]["S3Uri"]).decode()
    assert "tar -xzf sourcedir.tar.gz" in script
    assert "install_requirements requirements.txt" in script
    assert script.rstrip().endswith('exec python3 /opt/ml/processing/input/code/job.py "$@"')
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0  # valid bash


def test_same_code_same_keys_and_nothing_uploaded_twice(s3, bucket, project: Path) -> None:
    from sagemaker_processing_provider.backends.staging import S3Stager

    first, second = S3Stager(s3, bucket, "code"), S3Stager(s3, bucket, "code")
    (project / "__pycache__" / "job.cpython-311.pyc").write_bytes(b"one")
    uris_1 = [i["S3Input"]["S3Uri"] for i in _sklearn(first, source_dir=str(project))["ProcessingInputs"]]
    (project / "__pycache__" / "job.cpython-311.pyc").write_bytes(b"two")  # not code: same bundle
    uris_2 = [i["S3Input"]["S3Uri"] for i in _sklearn(second, source_dir=str(project))["ProcessingInputs"]]
    assert uris_1 == uris_2 and set(uris_1) <= first.addressed
    assert (first.uploaded, second.uploaded, second.skipped) == (2, 0, 2)
    (project / "helpers" / "__init__.py").write_text("VALUE = 43\n")
    uris_3 = [i["S3Input"]["S3Uri"] for i in _sklearn(second, source_dir=str(project))["ProcessingInputs"]]
    assert uris_3[0] != uris_1[0] and uris_3[1] == uris_1[1]  # new code, same runproc.sh


def test_requirements_without_source_dir_bundle_the_script_and_the_file(tmp_path: Path, local_stager) -> None:
    (tmp_path / "job.py").write_text("print(1)\n")
    (tmp_path / "deps.txt").write_text("cowsay==6.1\n")
    request = _sklearn(local_stager, code=str(tmp_path / "job.py"), requirements=str(tmp_path / "deps.txt"))
    tarball = Path(request["ProcessingInputs"][0]["S3Input"]["S3Uri"].removeprefix("file://"))
    with tarfile.open(tarball) as tar:
        assert tar.getnames() == ["deps.txt", "job.py"]
    script = Path(request["ProcessingInputs"][1]["S3Input"]["S3Uri"].removeprefix("file://")).read_text()
    assert "install_requirements deps.txt" in script and "fail 'deps.txt is not in the code bundle'" in script


def test_pyspark_bundle_installs_on_every_host_and_zips_for_executors(s3_stager, project: Path) -> None:
    request = build_and_upload(
        build_spark_request, PySparkParams,
        job_name=JOB, region="us-east-1", stager=s3_stager, default_output_prefix="s3://out", role=ROLE,
        framework_version="3.5", instance_type="ml.m5.xlarge", instance_count=2, submit_app="job.py",
        source_dir=str(project), submit_py_files=["s3://deps/lib.zip"],
    )  # fmt: skip
    assert request["AppSpecification"]["ContainerEntrypoint"][0] == "/bin/bash"
    assert [i["InputName"] for i in request["ProcessingInputs"]] == ["code", "entrypoint"]
    script = _s3_bytes(s3_stager, request["ProcessingInputs"][1]["S3Input"]["S3Uri"]).decode()
    last = script.rstrip().splitlines()[-1]
    assert last == (
        "exec smspark-submit --py-files s3://deps/lib.zip,/opt/ml/processing/input/entrypoint/sourcedir.zip "
        '/opt/ml/processing/input/code/job.py "$@"'
    )
    assert script.index("install_requirements requirements.txt") < script.index("zipfile")


def test_with_py_file_keeps_s3_first_and_adds_the_option_when_absent() -> None:
    assert bundle.with_py_file(["smspark-submit", "--jars", "j"], "/z.zip") == [
        "smspark-submit", "--py-files", "/z.zip", "--jars", "j",
    ]  # fmt: skip
    assert bundle.with_py_file(["s", "--py-files", "s3://a.py"], "/z.zip") == [
        "s",
        "--py-files",
        "s3://a.py,/z.zip",
    ]


def test_s3_source_dir_is_used_as_is(local_stager) -> None:
    request = _sklearn(local_stager, source_dir="s3://team/code/sourcedir.tar.gz", code="jobs/run.py")
    assert request["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://team/code/sourcedir.tar.gz"
    script = Path(request["ProcessingInputs"][1]["S3Input"]["S3Uri"].removeprefix("file://")).read_text()
    assert "if [[ -f requirements.txt ]]" in script and "not in the code bundle" not in script  # optional


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"source_dir": "/no/such/folder"}, "source_dir", "is not a local folder"),
        ({"code": "missing.py"}, "code", "is not a local file"),
        ({"requirements": "nope.txt"}, "requirements", "is not a local file"),
        ({"source_dir": "s3://b/code/"}, "source_dir", ".tar.gz"),
        ({"source_dir": "s3://b/sourcedir.tar.gz", "code": "../x.py"}, "code", "relative to source_dir"),
    ],
)
def test_bad_bundle_parameters_name_the_field(local_stager, project, overrides, field, message) -> None:
    overrides.setdefault("source_dir", str(project))
    with pytest.raises(RequestError, match=message) as info:
        _sklearn(local_stager, **overrides)
    assert info.value.field == field


def test_script_outside_source_dir_is_refused(local_stager, project: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.py"
    other.write_text("print(2)\n")
    with pytest.raises(RequestError, match="must be a file inside source_dir"):
        _sklearn(local_stager, source_dir=str(project), code=str(other))
