"""The seam's promises, each proved against the real local backend with a fault injected where needed:
transient describe errors never stop a job, timeouts do (deferrable too), names carry the deployment's
namespace and the run's start, submit-and-return, errors classified by code not by wording."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowTaskTimeout, TaskDeferralTimeout, TaskDeferred
from airflow_operators_support import context, job_names, sklearn_operator, wait_for_status
from botocore.exceptions import ClientError, EndpointConnectionError
from sagemaker_processing_provider.backends import base
from sagemaker_processing_provider.backends.local import LocalBackend
from sagemaker_processing_provider.errors import ProcessingError


def client_error(code: str, message: str = "", status: int = 400) -> ClientError:
    meta = {"HTTPStatusCode": status}
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": meta}, "Op")


@pytest.mark.parametrize(
    "error",
    [
        client_error("ValidationException", "Could not find requested job with name x"),
        client_error("ValidationException", "Requested resource not found."),
        client_error("ResourceNotFound", "Processing job x does not exist"),
    ],
)
def test_not_found_is_read_from_the_error_code_whatever_the_wording(error: ClientError) -> None:
    assert base.is_not_found(error) and not base.is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        client_error("ThrottlingException", "Rate exceeded"),
        client_error("InternalFailure", "oops", 500),
        client_error("SomethingNew", "bad gateway", 502),
        EndpointConnectionError(endpoint_url="https://api.sagemaker"),
        ConnectionResetError("reset by peer"),
    ],
)
def test_transient_errors(error: Exception) -> None:
    assert base.is_transient(error) and not base.is_not_found(error)


def test_access_denied_is_neither() -> None:
    error = client_error("AccessDeniedException", "no")
    assert not base.is_transient(error) and not base.is_not_found(error)


@pytest.fixture
def flaky_describe(monkeypatch: pytest.MonkeyPatch):
    """Make the local backend's describe raise ``error`` on calls ``start`` .. ``start + count - 1``."""
    real = LocalBackend.describe
    calls = {"n": 0}

    def arm(error: Exception, start: int, count: int) -> dict:
        def describe(self, job_name: str):
            calls["n"] += 1
            if start <= calls["n"] < start + count:
                raise error
            return real(self, job_name)

        monkeypatch.setattr(LocalBackend, "describe", describe)
        return calls

    return arm


def test_throttled_describe_while_waiting_never_stops_the_job(
    job_home: Path, job_files: dict, flaky_describe, capfd
) -> None:
    flaky_describe(client_error("ThrottlingException", "Rate exceeded"), start=3, count=4)
    operator = sklearn_operator(job_files, mode="wait", check_interval=0.1)
    job_files["release"].touch()
    result = operator.execute(context())
    assert result["status"] == "Completed"  # the job was never stopped
    out = capfd.readouterr().out
    assert out.count("the job keeps running, retrying in") == 4 and "Stopping processing job" not in out


def test_a_permanent_describe_error_fails_the_task_but_leaves_the_job_running(
    job_home: Path, job_files: dict, flaky_describe
) -> None:
    flaky_describe(client_error("AccessDeniedException", "not allowed"), start=3, count=100)
    operator = sklearn_operator(job_files, mode="wait", check_interval=0.1)
    with pytest.raises(ClientError, match="not allowed"):
        operator.execute(context())
    [name] = job_names(job_home)
    assert wait_for_status(job_home, name, ("InProgress",))["ProcessingJobStatus"] == "InProgress"
    job_files["release"].touch()
    assert wait_for_status(job_home, name, ("Completed",))["ProcessingJobStatus"] == "Completed"


def test_a_timeout_while_waiting_stops_the_job(job_home: Path, job_files: dict, monkeypatch) -> None:
    operator = sklearn_operator(job_files, mode="wait", check_interval=0.1)
    polls = {"n": 0}
    real_sleep = __import__("time").sleep

    def sleep(seconds: float) -> None:  # what Airflow's timeout does: raise inside the wait
        polls["n"] += 1
        if polls["n"] == 5:
            raise AirflowTaskTimeout("Timeout, PID: 1")
        real_sleep(seconds)

    monkeypatch.setattr("sagemaker_processing_provider.operators.base.time.sleep", sleep)
    with pytest.raises(AirflowTaskTimeout):
        operator.execute(context())
    [name] = job_names(job_home)
    assert wait_for_status(job_home, name, ("Stopped",))["ProcessingJobStatus"] == "Stopped"


def _first_event(trigger):
    async def run():
        async for event in trigger.run():
            return event

    return asyncio.run(run())


def test_deferred_task_honours_execution_timeout(job_home: Path, job_files: dict) -> None:
    operator = sklearn_operator(
        job_files, mode="wait", deferrable=True, execution_timeout=timedelta(seconds=2), check_interval=0.2
    )
    ctx = context()
    with pytest.raises(TaskDeferred) as info:
        operator.execute(ctx)
    deferred = info.value
    assert deferred.timeout is not None and 60 < deferred.timeout <= 2 + 60
    event = _first_event(deferred.trigger)
    assert event.payload["status"] == "timeout"
    assert (
        wait_for_status(job_home, deferred.trigger.job_name, ("Stopped",))["ProcessingJobStatus"] == "Stopped"
    )
    with pytest.raises(AirflowTaskTimeout, match="was stopped"):
        sklearn_operator(job_files, deferrable=True).execute_complete(ctx, event.payload)


def test_airflows_own_deferral_timeout_stops_the_job(job_home: Path, job_files: dict) -> None:
    """The backup path: the triggerer was down, the scheduler timed the deferral out."""
    from airflow.sdk.bases.operator import TriggerFailureReason

    operator = sklearn_operator(job_files, mode="wait", deferrable=True)
    ctx = context()
    with pytest.raises(TaskDeferred) as info:
        operator.execute(ctx)
    name = info.value.trigger.job_name
    wait_for_status(job_home, name, ("InProgress",))
    resumed = sklearn_operator(job_files, mode="wait", deferrable=True)
    with pytest.raises(TaskDeferralTimeout):
        resumed.resume_execution("__fail__", {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, ctx)
    assert wait_for_status(job_home, name, ("Stopped",))["ProcessingJobStatus"] == "Stopped"


def test_submit_and_return_without_waiting(job_home: Path, job_files: dict) -> None:
    result = sklearn_operator(job_files, mode="wait", wait_for_completion=False).execute(context())
    assert result["status"] == "InProgress" and result["Processing"]["ProcessingJobStatus"] == "InProgress"
    assert json.loads(json.dumps(result)) == result
    job_files["release"].touch()
    assert wait_for_status(job_home, result["job_name"], ("Completed",))["ProcessingJobStatus"] == "Completed"


def _dag_run(start: datetime) -> SimpleNamespace:
    return SimpleNamespace(start_date=start, run_after=start)


def test_names_carry_the_namespace_and_the_runs_start(
    job_home: Path, job_files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    first = sklearn_operator(job_files).execute({**context(), "dag_run": _dag_run(start)})["job_name"]
    # the same run id, deleted and created again: another start, so another job (no reuse, no clash)
    again = sklearn_operator(job_files, reuse_completed_job=True).execute(
        {**context(), "dag_run": _dag_run(start + timedelta(hours=1))}
    )["job_name"]
    assert again != first
    # another deployment sharing the account: its namespace makes its names differ
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {"conn_type": "aws", "extra": {"processing_backend": "local", "job_name_namespace": "prod"}}
        ),
    )
    other = sklearn_operator(job_files).execute({**context(), "dag_run": _dag_run(start)})["job_name"]
    assert len({first, again, other}) == 3 and all(n.endswith("-t1") for n in (first, again, other))


def test_default_namespace_follows_the_metadata_database(monkeypatch: pytest.MonkeyPatch) -> None:
    from sagemaker_processing_provider.hooks.processing import ProcessingHook

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "extra": {}}))
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://a@db-one/airflow")
    one = ProcessingHook().namespace
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://a@db-two/airflow")
    assert ProcessingHook().namespace != one and one.startswith("db-")
    monkeypatch.setenv("AIRFLOW__SAGEMAKER_PROCESSING__JOB_NAME_NAMESPACE", "team-a")
    assert ProcessingHook().namespace == "team-a"


def test_an_unknown_job_while_waiting_is_an_error(job_home: Path) -> None:
    from sagemaker_processing_provider.backends.watch import JobWatcher

    watcher = JobWatcher(
        LocalBackend(job_home), "no-such-job", interval=0.1, log=__import__("logging").getLogger()
    )
    with pytest.raises(ProcessingError, match="does not exist"):
        watcher.poll()


def test_local_polls_start_fast_then_settle(job_home: Path, job_files: dict) -> None:
    """Short local jobs are seen ending within a quarter second, long ones polled every 2 s."""
    import logging

    from sagemaker_processing_provider.backends.watch import JobWatcher

    name = sklearn_operator(job_files, mode="wait", wait_for_completion=False).execute(context())["job_name"]
    backend = LocalBackend(job_home)
    watcher = JobWatcher(
        backend,
        name,
        interval=backend.poll_interval,
        first_interval=backend.first_poll_interval,
        log=logging.getLogger(),
    )
    delays = []
    for _ in range(5):
        assert watcher.poll()["ProcessingJobStatus"] == "InProgress"
        delays.append(watcher.delay)
    assert delays == [0.25, 0.5, 1.0, 2.0, 2.0]


def test_local_wait_ends_when_the_job_changes(job_home: Path, job_files: dict) -> None:
    """The local backend's wait returns as soon as the job's state changes, not after the full delay."""
    import threading

    name = sklearn_operator(job_files, mode="wait", wait_for_completion=False).execute(context())["job_name"]
    backend = LocalBackend(job_home)
    while "ProcessingStartTime" not in backend.describe(name):  # started (its last change until released)
        assert backend.wait_for_change(name, 600) is True
    assert backend.wait_for_change(name, 0.2) is False  # nothing happened: the full delay
    threading.Timer(0.5, job_files["release"].touch).start()
    assert backend.wait_for_change(name, 600) is True  # returned on the change, long before 600 s
    assert wait_for_status(job_home, name, ("Completed",))["ProcessingJobStatus"] == "Completed"
