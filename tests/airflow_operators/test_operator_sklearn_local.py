"""SKLearnProcessorOperator against the real local backend: result, logs, links, failures, kill."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowTaskTimeout
from airflow.sdk.execution_time.timeout import timeout
from airflow_operators_support import context, job_names, sklearn_operator, wait_for_status
from sagemaker_processing_provider.errors import ProcessingJobFailed, RequestError
from sagemaker_processing_provider.links.processing import JOB_NAME_KEY, ProcessingJobLink, ProcessingLogsLink
from sagemaker_processing_provider.local.backend import LocalProcessingBackend


def test_runs_a_job_and_returns_a_json_result(job_home: Path, job_files: dict, capfd) -> None:
    ctx = context()
    result = sklearn_operator(job_files).execute(ctx)

    assert json.loads(json.dumps(result)) == result
    assert result["status"] == "Completed"
    assert result["backend"] == "local"
    assert result["arn"].endswith(result["job_name"].lower())
    assert result["outputs"] == {"result": Path(job_files["out"]).resolve().as_uri()}
    assert result["inputs"]["input-1"] == Path(job_files["data"]).resolve().as_uri()
    assert "code" not in result["inputs"]  # the script is plumbing, not data
    assert result["Processing"]["ProcessingJobStatus"] == "Completed"  # the whole describe, as upstream
    assert {i["InputName"] for i in result["Processing"]["ProcessingInputs"]} == {"input-1", "code"}
    assert json.loads((job_files["out"] / "result.json").read_text()) == {"rows": 3}
    # the job's own lines reached the task log
    assert "[job] job done, rows 3" in capfd.readouterr().out
    # the links were stored for the UI: same-origin paths to the UI plugin's job page and log
    job_url = ctx["ti"].xcoms[ProcessingJobLink.key]
    assert job_url == f"/sm-processing/jobs/{result['job_name']}"
    assert ctx["ti"].xcoms[ProcessingLogsLink.key] == f"{job_url}/log"
    assert ctx["ti"].xcoms[JOB_NAME_KEY] == result["job_name"]  # the plugin's task view finds it
    assert job_names(job_home) == [result["job_name"]]


def test_job_name_is_derived_from_the_task_instance(job_home: Path, job_files: dict) -> None:
    from sagemaker_processing_provider.hooks.processing import ProcessingHook
    from sagemaker_processing_provider.request.names import job_name_for

    ctx = context(try_number=1, dag_id="my_dag", task_id="feature_engineering", map_index=3)
    result = sklearn_operator(job_files, base_job_name="abalone-fe").execute(ctx)
    ti = ctx["ti"]
    expected = job_name_for(
        base="abalone-fe",
        dag_id="my_dag",
        task_id="feature_engineering",
        run_id=ti.run_id,
        map_index=3,
        try_number=1,
        namespace=ProcessingHook().namespace,
    )
    assert result["job_name"] == expected


def test_failed_job_fails_with_reason_and_exit_message(job_home: Path, job_files: dict) -> None:
    with pytest.raises(ProcessingJobFailed) as info:
        sklearn_operator(job_files, mode="fail").execute(context())
    error = info.value
    assert error.status == "Failed"
    assert error.exit_message == "3 rows have a null rings value"
    assert error.reason and error.reason in str(error)
    assert "ExitMessage: 3 rows have a null rings value" in str(error)
    assert not (job_files["out"] / "result.json").exists()


def test_on_kill_stops_the_job_and_stopped_fails_the_task(job_home: Path, job_files: dict) -> None:
    operator = sklearn_operator(job_files, mode="wait")
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = operator.execute(context())
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    names: list[str] = []
    while not names:  # the job exists once execute created it
        names = job_names(job_home)
    wait_for_status(job_home, names[0], ("InProgress",))
    operator.on_kill()
    worker.join(120)

    assert not worker.is_alive()
    error = outcome.get("error")
    assert isinstance(error, ProcessingJobFailed), outcome
    assert error.status == "Stopped"
    assert "ended Stopped" in str(error) and error.reason and error.reason in str(error)
    description = LocalProcessingBackend(job_home).describe_processing_job(ProcessingJobName=names[0])
    assert description["ProcessingJobStatus"] == "Stopped"


def test_a_timeout_during_the_wait_stops_the_job(job_home: Path, job_files: dict) -> None:
    # Airflow's own execution_timeout mechanism (SIGALRM -> AirflowTaskTimeout) around execute.
    with pytest.raises(AirflowTaskTimeout), timeout(3):
        sklearn_operator(job_files, mode="wait").execute(context())
    [name] = job_names(job_home)
    assert wait_for_status(job_home, name, ("Stopped",))["ProcessingJobStatus"] == "Stopped"


def test_missing_local_code_is_refused_before_any_job(job_home: Path, job_files: dict) -> None:
    missing = job_files["script"].parent / "nope.py"
    with pytest.raises(RequestError) as info:
        sklearn_operator(job_files, code=str(missing)).execute(context())
    assert info.value.field == "code" and str(missing) in str(info.value)
    assert not (job_home / "jobs").exists() or job_names(job_home) == []


def test_templated_fields_cover_the_sdk_words() -> None:
    from sagemaker_processing_provider.operators.sklearn import SKLearnProcessorOperator
    from sagemaker_processing_provider.operators.spark import (
        PySparkProcessorOperator,
        SparkJarProcessorOperator,
    )

    common = {
        "role",
        "instance_type",
        "instance_count",
        "inputs",
        "outputs",
        "arguments",
        "env",
        "base_job_name",
    }
    assert common | {"code", "command"} <= set(SKLearnProcessorOperator.template_fields)
    assert common | {"submit_app", "submit_py_files", "configuration"} <= set(
        PySparkProcessorOperator.template_fields
    )
    assert common | {"submit_app", "submit_class", "submit_jars"} <= set(
        SparkJarProcessorOperator.template_fields
    )
