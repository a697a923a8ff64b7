"""The parameter spec is the one source: operators' signatures, template fields and the docs follow it."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
from sagemaker_processing_provider.operators.sklearn import SKLearnProcessorOperator
from sagemaker_processing_provider.operators.spark import PySparkProcessorOperator, SparkJarProcessorOperator
from sagemaker_processing_provider.request import params

ROOT = Path(__file__).resolve().parents[2]
OPERATORS = [
    (SKLearnProcessorOperator, params.SKLearnParams),
    (PySparkProcessorOperator, params.PySparkParams),
    (SparkJarProcessorOperator, params.SparkJarParams),
]


def test_docs_are_generated_from_the_spec() -> None:
    assert (ROOT / "docs" / "PARAMETERS.md").read_text() == params.reference(), (
        "docs/PARAMETERS.md is stale: python -m sagemaker_processing_provider.request.params > docs/PARAMETERS.md"
    )


@pytest.mark.parametrize(("operator", "spec"), OPERATORS)
def test_signature_template_fields_and_doc_follow_the_spec(operator, spec) -> None:
    names = [f.name for f in dataclasses.fields(spec)]
    signature = inspect.signature(operator.__init__)
    assert [n for n in signature.parameters if n not in ("self", "kwargs")] == names
    for f in dataclasses.fields(spec):
        expected = inspect.Parameter.empty if params.is_required(f) else f.default
        assert signature.parameters[f.name].default == expected
    assert set(operator.template_fields) == {*names, "aws_conn_id", "region_name"}
    assert all(f":param {n}:" in operator.__doc__ for n in names)


def test_default_args_fill_spec_parameters_and_mapping_accepts_them(tmp_path: Path) -> None:
    from airflow.sdk import DAG

    script = tmp_path / "job.py"
    script.write_text("print(1)\n")
    default_args = {"role": "arn:aws:iam::123456789012:role/R", "instance_type": "ml.m5.large"}
    with DAG("spec_dag", schedule=None, default_args=default_args):
        task = SKLearnProcessorOperator(task_id="t", code=str(script))
        mapped = SKLearnProcessorOperator.partial(task_id="m", code=str(script)).expand(
            arguments=[["--a", "1"], ["--a", "2"]]
        )
    assert (task.role, task.instance_type) == (default_args["role"], "ml.m5.large")
    assert mapped.expand_input.value == {"arguments": [["--a", "1"], ["--a", "2"]]}


def test_a_required_spec_parameter_is_required() -> None:
    with pytest.raises(TypeError, match="submit_class"):
        SparkJarProcessorOperator(task_id="j", submit_app="s3://b/app.jar", instance_type="ml.m5.large")
