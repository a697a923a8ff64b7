"""The Spark operators (thin: their parameters -> the builder) and the lineage helpers.

A real PySpark run through the operator is in test_operator_requirements_pyspark.py (one Spark job
proves the plain path and the dependencies)."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_operators_support import context, job_names
from sagemaker_processing_provider.errors import RequestError
from sagemaker_processing_provider.operators.lineage import dataset_identity, job_channels
from sagemaker_processing_provider.operators.spark import PySparkProcessorOperator, SparkJarProcessorOperator


def test_missing_spark_files_are_refused_before_any_job(job_home: Path, tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text("print(1)\n")
    pyspark = PySparkProcessorOperator(
        task_id="p",
        instance_type="ml.m5.xlarge",
        submit_app=str(app),
        submit_py_files=[str(tmp_path / "gone.zip")],
    )
    with pytest.raises(RequestError) as info:
        pyspark.execute(context())
    assert info.value.field == "submit_py_files" and "gone.zip" in str(info.value)

    jar = SparkJarProcessorOperator(
        task_id="j", instance_type="ml.m5.xlarge", submit_app=str(tmp_path / "app.jar"), submit_class="a.Main"
    )
    with pytest.raises(RequestError) as info:
        jar.execute(context())
    assert info.value.field == "submit_app" and "app.jar" in str(info.value)
    assert not (job_home / "jobs").exists() or job_names(job_home) == []


def test_channels_and_dataset_identities() -> None:
    description = {
        "ProcessingInputs": [
            {"InputName": "data", "S3Input": {"S3Uri": "s3://bucket/raw/abalone.csv"}},
            {"InputName": "code", "S3Input": {"S3Uri": "s3://bucket/code/job.py"}},
        ],
        "ProcessingOutputConfig": {
            "Outputs": [{"OutputName": "features", "S3Output": {"S3Uri": "file:///x/y"}}]
        },
    }
    inputs, outputs = job_channels(description)
    assert inputs == {"data": "s3://bucket/raw/abalone.csv", "code": "s3://bucket/code/job.py"}
    assert outputs == {"features": "file:///x/y"}
    assert dataset_identity("s3://bucket/raw/abalone.csv") == ("s3://bucket", "raw/abalone.csv")
    assert dataset_identity("file:///x/y") == ("file", "/x/y")
    assert job_channels({}) == ({}, {})


def test_lineage_facets_or_a_quiet_none_without_openlineage() -> None:
    operator = SparkJarProcessorOperator(task_id="j", submit_app="s3://b/app.jar", submit_class="a.Main")
    operator._description = {
        "ProcessingInputs": [
            {"InputName": "data", "S3Input": {"S3Uri": "s3://bucket/raw/abalone.csv"}},
            {"InputName": "code", "S3Input": {"S3Uri": "s3://b/app.jar"}},
        ],
        "ProcessingOutputConfig": {
            "Outputs": [{"OutputName": "f", "S3Output": {"S3Uri": "s3://bucket/features"}}]
        },
    }
    lineage = operator.get_openlineage_facets_on_complete(None)
    try:
        import airflow.providers.openlineage  # noqa: F401
    except ImportError:
        assert lineage is None  # the provider is optional: no error, no facets
        return
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("s3://bucket", "raw/abalone.csv")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("s3://bucket", "features")]
