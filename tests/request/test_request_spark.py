"""Spark requests against the SDK v2's verified shapes (reference §1.4, §4) and botocore."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from request_support import build_and_upload
from sagemaker_processing_provider.errors import RequestError
from sagemaker_processing_provider.request.params import PySparkParams, SparkJarParams
from sagemaker_processing_provider.request.spark import build_spark_request


def build_pyspark_request(**kwargs):
    return build_and_upload(build_spark_request, PySparkParams, **kwargs)


def build_spark_jar_request(**kwargs):
    return build_and_upload(build_spark_request, SparkJarParams, **kwargs)


ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
SPARK = "173754725891.dkr.ecr.us-east-1.amazonaws.com/sagemaker-spark-processing"
JOB = "abalone-spark-0123456789ab-t1"
CONF = {"Classification": "spark-defaults", "Properties": {"spark.executor.memory": "2g"}}


@pytest.fixture
def app(tmp_path):
    path = tmp_path / "preprocess.py"
    path.write_text("print('spark')\n")
    return path


def pyspark(stager, app, **overrides):
    params = dict(
        job_name=JOB, submit_app=str(app), role=ROLE, instance_type="ml.m5.xlarge", region="us-east-1"
    )
    params.update(overrides)
    return build_pyspark_request(stager=stager, **params)


def by_name(request):
    return {i["InputName"]: i["S3Input"] for i in request["ProcessingInputs"]}


def test_pyspark_matches_the_verified_sdk_shape(s3, s3_stager, bucket, app, tmp_path, validate_request):
    lib = tmp_path / "lib.py"
    lib.write_text("X = 1\n")
    request = pyspark(
        s3_stager,
        app,
        framework_version="3.5",
        instance_count=2,
        submit_py_files=["s3://my-bucket/deps/lib.zip", str(lib)],
        configuration=CONF,
        spark_event_logs_s3_uri="s3://my-bucket/spark-events/",
    )
    validate_request(request)
    assert request["AppSpecification"] == {
        "ImageUri": f"{SPARK}:3.5-cpu",
        "ContainerEntrypoint": [
            "smspark-submit",
            "--py-files",
            "s3://my-bucket/deps/lib.zip,/opt/ml/processing/input/py-files",
            "--local-spark-event-logs-dir",
            "/opt/ml/processing/spark-events/",
            "/opt/ml/processing/input/code/preprocess.py",
        ],
    }
    assert [i["InputName"] for i in request["ProcessingInputs"]] == ["py-files", "conf", "code"]
    inputs = by_name(request)
    assert inputs["py-files"]["LocalPath"] == "/opt/ml/processing/input/py-files"
    assert inputs["conf"]["LocalPath"] == "/opt/ml/processing/input/conf"
    assert inputs["code"]["LocalPath"] == "/opt/ml/processing/input/code"
    assert re.fullmatch(rf"s3://{bucket}/code/[0-9a-f]{{16}}/configuration\.json", inputs["conf"]["S3Uri"])
    conf_key = inputs["conf"]["S3Uri"].split("/", 3)[3]
    assert json.loads(s3.get_object(Bucket=bucket, Key=conf_key)["Body"].read()) == CONF
    pyfiles = inputs["py-files"]["S3Uri"].split("/", 3)[3]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=pyfiles + "/")["Contents"]
    assert [o["Key"].rsplit("/", 1)[1] for o in listed] == ["lib.py"]
    assert request["ProcessingOutputConfig"]["Outputs"] == [
        {
            "OutputName": "output-1",
            "AppManaged": False,
            "S3Output": {
                "S3Uri": "s3://my-bucket/spark-events/",
                "LocalPath": "/opt/ml/processing/spark-events/",
                "S3UploadMode": "Continuous",
            },
        }
    ]
    assert request["Environment"] == {}  # the Spark processors always send it
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 2


def test_spark_jar_matches_the_verified_sdk_shape(s3_stager, tmp_path, validate_request):
    jar = tmp_path / "app.jar"
    jar.write_bytes(b"PK\x03\x04 not really a jar")
    request = build_spark_jar_request(
        job_name=JOB,
        submit_app=str(jar),
        submit_class="com.example.Main",
        submit_jars=["s3://my-bucket/jars/dep.jar"],
        framework_version="3.3",
        role=ROLE,
        instance_type="ml.m5.xlarge",
        region="us-east-1",
        stager=s3_stager,
    )
    validate_request(request)
    assert request["AppSpecification"] == {
        "ImageUri": f"{SPARK}:3.3-cpu",
        "ContainerEntrypoint": [
            "smspark-submit",
            "--class",
            "com.example.Main",
            "--jars",
            "s3://my-bucket/jars/dep.jar",
            "/opt/ml/processing/input/code/app.jar",
        ],
    }
    assert [i["InputName"] for i in request["ProcessingInputs"]] == ["code"]


def test_local_folders_and_full_option_order(local_stager, app, tmp_path, validate_request):
    pydir, jardir, filedir = tmp_path / "py", tmp_path / "jars-dir", tmp_path / "files-dir"
    for folder, names in ((pydir, ["a.py", "b.py"]), (jardir, ["x.jar"]), (filedir, ["f.txt"])):
        folder.mkdir()
        for n in names:
            (folder / n).write_text(n)
    request = pyspark(
        local_stager,
        app,
        inputs=[{"source": "s3://b/data", "destination": "/opt/ml/processing/input/data"}],
        outputs=[{"source": "/opt/ml/processing/output", "destination": "s3://b/out"}],
        submit_py_files=[str(pydir)],
        submit_jars=["s3://b/dep.jar", str(jardir)],
        submit_files=str(filedir),
        configuration=[CONF, {"Classification": "spark-env", "Properties": {}, "Configurations": [
            {"Classification": "export", "Properties": {"PYSPARK_PYTHON": "python3"}}]}],
        spark_event_logs_s3_uri=str(tmp_path / "events"),
        arguments=["--input", "/opt/ml/processing/input/data"],
        env={"A": "1"},
        py_version="py39",
        container_version="1",
    )  # fmt: skip
    validate_request(request)
    app_spec = request["AppSpecification"]
    assert app_spec["ImageUri"] == f"{SPARK}:3.5-cpu-py39-v1"
    assert app_spec["ContainerEntrypoint"] == [
        "smspark-submit",
        "--py-files", "/opt/ml/processing/input/py-files",
        "--jars", "s3://b/dep.jar,/opt/ml/processing/input/jars",
        "--files", "/opt/ml/processing/input/files",
        "--local-spark-event-logs-dir", "/opt/ml/processing/spark-events/",
        "/opt/ml/processing/input/code/preprocess.py",
    ]  # fmt: skip
    assert app_spec["ContainerArguments"] == ["--input", "/opt/ml/processing/input/data"]
    names = [i["InputName"] for i in request["ProcessingInputs"]]
    assert names == ["input-1", "py-files", "jars", "files", "conf", "code"]
    inputs = by_name(request)
    staged = Path(inputs["py-files"]["S3Uri"].removeprefix("file://"))
    assert sorted(p.name for p in staged.iterdir()) == ["a.py", "b.py"]
    outputs = request["ProcessingOutputConfig"]["Outputs"]
    assert [o["OutputName"] for o in outputs] == ["output-1", "output-2"]
    assert outputs[1]["S3Output"]["S3Uri"] == (tmp_path / "events").resolve().as_uri()
    assert request["Environment"] == {"A": "1"}


def test_event_logs_must_be_s3_on_aws(s3_stager, app, tmp_path):
    for uri in (str(tmp_path / "events"), "file:///tmp/events", "hdfs://x/y"):
        with pytest.raises(RequestError) as err:
            pyspark(s3_stager, app, spark_event_logs_s3_uri=uri)
        assert err.value.field == "spark_event_logs_s3_uri"


@pytest.mark.parametrize(
    ("configuration", "field"),
    [
        ({"Classification": "spark-unknown", "Properties": {}}, "configuration.Classification"),
        ({"Classification": "spark-defaults"}, "configuration.Properties"),
        ({"Properties": {}}, "configuration.Classification"),
        ({"Classification": "spark-defaults", "Properties": {}, "Extra": 1}, "configuration.Extra"),
        ([CONF, {"Classification": "nope", "Properties": {}}], "configuration[1].Classification"),
        ({"Classification": "spark-defaults", "Properties": ["a"]}, "configuration.Properties"),
        ({"Classification": "spark-env", "Properties": {}, "Configurations": [{"Classification": "export"}]},
         "configuration.Configurations[0].Properties"),
        ("spark.executor.memory=2g", "configuration"),
    ],
)  # fmt: skip
def test_bad_configuration_names_the_field(local_stager, app, configuration, field):
    with pytest.raises(RequestError) as err:
        pyspark(local_stager, app, configuration=configuration)
    assert err.value.field == field, str(err.value)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"submit_py_files": ["/no/such/lib.py"]}, "submit_py_files[0]"),
        ({"submit_jars": ["hdfs://nn/x.jar"]}, "submit_jars[0]"),
        ({"submit_files": [None]}, "submit_files[0]"),
        ({"submit_app": None}, "submit_app"),
        ({"framework_version": "3.4"}, "framework_version"),
    ],
)
def test_bad_spark_parameters_name_the_field(local_stager, app, overrides, field):
    with pytest.raises(RequestError) as err:
        pyspark(local_stager, app, **overrides)
    assert err.value.field == field, str(err.value)


def test_duplicate_dep_names_and_missing_class(local_stager, app, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "preprocess.py").write_text("other")
    with pytest.raises(RequestError, match="two files named") as err:
        pyspark(local_stager, app, submit_py_files=[str(app), str(tmp_path / "a")])
    assert err.value.field == "submit_py_files"
    with pytest.raises(RequestError) as err:
        build_spark_jar_request(
            job_name=JOB,
            submit_app="s3://b/app.jar",
            submit_class="",
            role=ROLE,
            instance_type="ml.m5.xlarge",
            region="us-east-1",
            stager=local_stager,
        )
    assert err.value.field == "submit_class"


def test_explicit_image_uri_wins(local_stager, app):
    request = pyspark(local_stager, app, image_uri="my.registry/spark:3.4", framework_version="3.4")
    assert request["AppSpecification"]["ImageUri"] == "my.registry/spark:3.4"
