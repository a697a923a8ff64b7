"""The deferrable path against the real local backend: defer, trigger run, resume; trigger kill rules."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from airflow._shared.module_loading import import_string
from airflow.sdk.exceptions import TaskDeferred
from airflow_operators_support import context, job_names, sklearn_operator, wait_for_status
from sagemaker_processing_provider.errors import ProcessingError, ProcessingJobFailed
from sagemaker_processing_provider.triggers.processing import ProcessingJobTrigger


async def first_event(trigger: ProcessingJobTrigger):
    async for event in trigger.run():
        return event
    raise AssertionError("the trigger ended without an event")


def defer(operator, ctx) -> ProcessingJobTrigger:
    with pytest.raises(TaskDeferred) as info:
        operator.execute(ctx)
    assert info.value.method_name == "execute_complete"
    return info.value.trigger


def rebuilt(trigger: ProcessingJobTrigger) -> ProcessingJobTrigger:
    """What a (re)started triggerer does: import the classpath, pass the JSON kwargs back."""
    classpath, kwargs = trigger.serialize()
    kwargs = json.loads(json.dumps(kwargs))
    return import_string(classpath)(**kwargs)


def test_defer_run_trigger_and_resume(job_home: Path, job_files: dict, capfd) -> None:
    ctx = context()
    trigger = defer(sklearn_operator(job_files, deferrable=True), ctx)
    event = asyncio.run(first_event(rebuilt(trigger)))

    assert event.payload["status"] == "Completed"
    assert event.payload["job_name"] == trigger.job_name
    assert "[job] job done, rows 3" in capfd.readouterr().out  # the trigger copied the job's log
    # resume as a fresh operator (another worker may run execute_complete)
    result = sklearn_operator(job_files, deferrable=True).execute_complete(ctx, event.payload)
    assert result["status"] == "Completed" and result["job_name"] == trigger.job_name
    assert result["outputs"]["result"] == Path(job_files["out"]).resolve().as_uri()
    assert job_names(job_home) == [trigger.job_name]


def test_trigger_serialize_round_trip() -> None:
    trigger = ProcessingJobTrigger(
        job_name="j-1", aws_conn_id="conn", region_name="eu-west-1", poll_interval=5, log_offset={"s": "t"}
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "sagemaker_processing_provider.triggers.processing.ProcessingJobTrigger"
    again = rebuilt(trigger)
    assert again.serialize() == (classpath, kwargs)
    assert (again.job_name, again.region_name, again.poll_interval, again.log_offset) == (
        "j-1",
        "eu-west-1",
        5,
        {"s": "t"},
    )


def test_failed_job_event_fails_execute_complete(job_home: Path, job_files: dict) -> None:
    ctx = context()
    trigger = defer(sklearn_operator(job_files, mode="fail", deferrable=True), ctx)
    event = asyncio.run(first_event(trigger))
    assert event.payload["status"] == "Failed"
    assert event.payload["exit_message"] == "3 rows have a null rings value"
    with pytest.raises(ProcessingJobFailed) as info:
        sklearn_operator(job_files, deferrable=True).execute_complete(ctx, event.payload)
    assert "ExitMessage: 3 rows have a null rings value" in str(info.value)
    assert event.payload["failure_reason"] in str(info.value)


def test_unknown_job_is_an_error_event(job_home: Path) -> None:
    event = asyncio.run(first_event(ProcessingJobTrigger(job_name="no-such-job", poll_interval=0.1)))
    assert event.payload["status"] == "error" and "does not exist" in event.payload["message"]
    with pytest.raises(ProcessingError, match="no-such-job"):
        sklearn_operator({"script": "x", "data": "x", "out": "x", "release": "x"}).execute_complete(
            context(), event.payload
        )


def test_cancel_without_user_action_keeps_the_job_then_on_kill_stops_it(
    job_home: Path, job_files: dict
) -> None:
    trigger = defer(sklearn_operator(job_files, mode="wait", deferrable=True), context())
    wait_for_status(job_home, trigger.job_name, ("InProgress",))

    async def cancel_like_a_triggerer_restart() -> None:
        task = asyncio.create_task(first_event(trigger))
        await asyncio.sleep(1)
        task.cancel()  # a shutdown cancels with no message
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_like_a_triggerer_restart())
    assert wait_for_status(job_home, trigger.job_name, ("InProgress",))["ProcessingJobStatus"] == "InProgress"

    asyncio.run(rebuilt(trigger).on_kill())  # Airflow 3.3+: the user marked the deferred task failed
    assert wait_for_status(job_home, trigger.job_name, ("Stopped",))["ProcessingJobStatus"] == "Stopped"
