"""The shared pipeline module: where a run reads and writes, and the Scala jar check."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "dags"))

from abalone import pipeline  # noqa: E402
from airflow.sdk.exceptions import AirflowFailException  # noqa: E402

RUN_ID = "manual__2026-11-25T12:00:00.123456+00:00"


def context(**params) -> dict:
    defaults = {name: param.value for name, param in pipeline.pipeline_params(spark=True).items()}
    return {"params": {**defaults, **params}, "run_id": RUN_ID, "dag": SimpleNamespace(dag_id="abalone_x")}


@pytest.fixture
def no_variables(monkeypatch):
    monkeypatch.setattr(pipeline, "_variable", lambda key: None)


def test_defaults_read_the_shipped_data_and_write_under_sm_processing_home(
    no_variables, monkeypatch, tmp_path
):
    monkeypatch.setenv("SM_PROCESSING_HOME", str(tmp_path))
    ctx = context()
    assert pipeline.abalone_input_uri(ctx) == str(REPO / "data" / "abalone.csv")
    assert (REPO / "data" / "abalone.csv").is_file()
    run = f"{tmp_path}/pipelines/abalone_x/manual__2026-11-25T12_00_00.123456_00_00"
    assert pipeline.abalone_run_uri(ctx) == run
    assert pipeline.abalone_run_uri(ctx, "report") == f"{run}/report"
    assert pipeline.abalone_role_arn(ctx) == ""  # the local backend supplies its own
    assert pipeline.abalone_code_location(ctx) == ""  # the operator's default
    assert ctx["params"]["aws_conn_id"] == "aws_default"


def test_without_sm_processing_home_the_backend_default_is_used(no_variables, monkeypatch):
    monkeypatch.delenv("SM_PROCESSING_HOME", raising=False)
    expected = str(Path("~/.sm-processing").expanduser().resolve() / "pipelines")
    assert pipeline.abalone_output_root(context()) == expected


def test_params_win_over_variables_and_variables_over_defaults(monkeypatch):
    variables = {
        pipeline.VAR_INPUT_URI: "s3://var-bucket/abalone/",
        pipeline.VAR_OUTPUT_ROOT_URI: "s3://var-bucket/out/",
        pipeline.VAR_ROLE_ARN: "arn:aws:iam::123456789012:role/var",
        pipeline.VAR_CODE_LOCATION: "s3://var-bucket/code",
    }
    monkeypatch.setattr(pipeline, "_variable", variables.get)
    ctx = context()
    assert pipeline.abalone_input_uri(ctx) == "s3://var-bucket/abalone/"
    assert pipeline.abalone_run_uri(ctx, "train").startswith("s3://var-bucket/out/abalone_x/manual__")
    assert pipeline.abalone_role_arn(ctx) == "arn:aws:iam::123456789012:role/var"
    assert pipeline.abalone_code_location(ctx) == "s3://var-bucket/code"
    ctx = context(input_uri="s3://p/in.csv", output_root_uri="s3://p/root", role_arn="arn:aws:iam::1:role/p")
    assert pipeline.abalone_input_uri(ctx) == "s3://p/in.csv"
    assert (
        pipeline.abalone_run_uri(ctx, "test")
        == "s3://p/root/abalone_x/manual__2026-11-25T12_00_00.123456_00_00/test"
    )
    assert pipeline.abalone_role_arn(ctx) == "arn:aws:iam::1:role/p"
    # a Param left blank in the trigger form falls through to the Variable
    assert pipeline.abalone_input_uri(context(input_uri="")) == "s3://var-bucket/abalone/"


@pytest.mark.parametrize(
    ("run_id", "safe"),
    [
        ("scheduled__2026-01-01T00:00:00+00:00", "scheduled__2026-01-01T00_00_00_00_00"),
        ("my run/with spaces", "my_run_with_spaces"),
        ("///", "run"),
    ],
)
def test_path_safe(run_id, safe):
    assert pipeline.path_safe(run_id) == safe


def test_missing_jar_fails_without_retry_and_says_how_to_build_it(tmp_path):
    check = pipeline.require_local_file("submit_app", "Build it: `make jar`.")
    task = SimpleNamespace(submit_app=str(tmp_path / "missing.jar"))
    with pytest.raises(
        AirflowFailException, match=r"submit_app .*missing\.jar.* does not exist\. Build it: `make jar`"
    ):
        check({"task": task})
    jar = tmp_path / "abalone-jobs.jar"
    jar.write_bytes(b"PK")
    check({"task": SimpleNamespace(submit_app=str(jar))})
    check({"task": SimpleNamespace(submit_app=f"file://{jar}")})
    check({"task": SimpleNamespace(submit_app="s3://bucket/jobs.jar")})  # the operator stages URIs


def test_scala_dag_uses_the_jar_check():
    import abalone_scala_pipeline as scala

    for task in scala.dag.tasks:
        assert task._pre_execute_hook is not None
        with pytest.raises(AirflowFailException, match="make jar"):
            task._pre_execute_hook({"task": SimpleNamespace(submit_app="/nonexistent/abalone-jobs.jar")})


def test_spark_pipelines_refuse_more_than_one_instance():
    """Their jobs move part files into place on the driver: a second instance's files would be lost,
    so the trigger form refuses it instead of a run that silently drops rows."""
    from airflow.sdk.definitions.param import ParamValidationError

    count = pipeline.pipeline_params(spark=True)["instance_count"]
    assert count.resolve(1) == 1
    with pytest.raises(ParamValidationError):
        count.resolve(2)
