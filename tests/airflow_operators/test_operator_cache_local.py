"""Step caching (``cache_config``) on the local backend, with real jobs.

Each DAG run gets its own job name, so a hit is visible as: no new job in the store, the earlier job's
result in XCom (``cache_hit``, ``cached_job``), and a plain line in the task log.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from airflow_operators_support import context, job_names, sklearn_operator, wait_for_status
from sagemaker_processing_provider.errors import ProcessingJobFailed, RequestError
from sagemaker_processing_provider.local.backend import LocalProcessingBackend

CACHED = {"enabled": True, "expire_after": "P30D"}


def _run(files: dict[str, Path], run: str, mode: str = "ok", **overrides) -> dict:
    overrides.setdefault("cache_config", CACHED)
    return sklearn_operator(files, mode, **overrides).execute(context(run_id=run))


def test_hit_returns_the_earlier_job_and_starts_nothing(job_home, job_files, capsys) -> None:
    first = _run(job_files, "run-1")
    assert first["cache_hit"] is False
    capsys.readouterr()
    second = _run(job_files, "run-2")
    assert second["cache_hit"] is True
    assert second["job_name"] == second["cached_job"] == first["job_name"]
    assert second["outputs"] == first["outputs"] and second["status"] == "Completed"
    assert second["cache_key"] and second["Processing"]["ProcessingJobName"] == first["job_name"]
    assert job_names(job_home) == [first["job_name"]]
    assert (
        f"Step cache HIT (key {second['cache_key']}): reusing processing job {first['job_name']}"
        in capsys.readouterr().out  # the task log
    )


def test_a_changed_input_or_script_is_a_miss(job_home, job_files) -> None:
    first = _run(job_files, "run-1")
    (job_files["data"] / "part.csv").write_text("a,b\n1,2\n3,4\n5,6\n")  # same name, new content
    second = _run(job_files, "run-2")
    assert second["cache_hit"] is False and second["job_name"] != first["job_name"]
    job_files["script"].write_text(job_files["script"].read_text() + "\n# edited\n")
    third = _run(job_files, "run-3")
    assert third["cache_hit"] is False
    assert _run(job_files, "run-4")["cached_job"] == third["job_name"]
    assert len(job_names(job_home)) == 3


def test_other_arguments_are_another_key_but_not_the_job_name(job_home, job_files) -> None:
    def env(x: str) -> dict:
        return {"RELEASE_FILE": str(job_files["release"]), "X": x}

    _run(job_files, "run-1", env=env("1"))
    second = _run(job_files, "run-2", env=env("2"))
    assert second["cache_hit"] is False
    assert _run(job_files, "run-3", env=env("2"))["cached_job"] == second["job_name"]


def test_expired_results_are_not_reused(job_home, job_files) -> None:
    first = _run(job_files, "run-1", cache_config={"enabled": True, "expire_after": "PT1S"})
    time.sleep(1.5)  # let the result age past expire_after (nothing is timed)
    second = _run(job_files, "run-2", cache_config={"enabled": True, "expire_after": "PT1S"})
    assert second["cache_hit"] is False and second["job_name"] != first["job_name"]
    third = _run(job_files, "run-3", cache_config={"enabled": True})  # no expire_after: never expires
    assert third["cached_job"] == second["job_name"]


def test_failed_and_stopped_jobs_are_never_reused(job_home, job_files) -> None:
    with pytest.raises(ProcessingJobFailed):
        _run(job_files, "run-1", mode="fail")
    with pytest.raises(ProcessingJobFailed):  # the same request again: it runs again, and fails again
        _run(job_files, "run-2", mode="fail")
    assert len(job_names(job_home)) == 2

    started = _run(job_files, "run-3", mode="wait", wait_for_completion=False)
    wait_for_status(job_home, started["job_name"], ("InProgress",))
    LocalProcessingBackend(job_home).stop_processing_job(ProcessingJobName=started["job_name"])
    wait_for_status(job_home, started["job_name"], ("Stopped",))
    job_files["release"].touch()
    again = _run(job_files, "run-4", mode="wait")
    assert again["cache_hit"] is False and again["status"] == "Completed"


def test_outputs_overwritten_or_deleted_since_are_a_miss(job_home, job_files) -> None:
    first = _run(job_files, "run-1")
    (job_files["out"] / "result.json").write_text('{"rows": -1}')  # someone overwrote the result
    second = _run(job_files, "run-2")
    assert second["cache_hit"] is False and second["job_name"] != first["job_name"]
    (job_files["out"] / "result.json").unlink()
    assert _run(job_files, "run-3")["cache_hit"] is False


def test_without_cache_config_every_run_runs(job_home, job_files) -> None:
    first = _run(job_files, "run-1", cache_config=None)
    second = _run(job_files, "run-2", cache_config=None)
    assert (first["cache_hit"], second["cache_hit"]) == (False, False)
    assert len(job_names(job_home)) == 2


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"enabled": True, "expire_after": "30 days"}, "cache_config.expire_after"),
        ({"enabled": True, "expire_after": "PT"}, "cache_config.expire_after"),
        ({"enabled": "yes"}, "cache_config.enabled"),
        ({"enable_caching": True}, "cache_config.enable_caching"),
        (["enabled"], "cache_config"),
    ],
)
def test_bad_cache_config_fails_before_any_job(job_home, job_files, config, field) -> None:
    with pytest.raises(RequestError) as info:
        _run(job_files, "run-1", cache_config=config)
    assert info.value.field == field
    assert job_names(job_home) == []


def test_a_failing_lookup_costs_a_run_not_the_task(job_home, job_files, monkeypatch, capsys) -> None:
    """An injected ThrottlingException on ListTags: the job runs (and is tagged for later lookups)."""
    from botocore.exceptions import ClientError

    first = _run(job_files, "run-1")

    def throttled(self, **kwargs):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ListTags")

    with monkeypatch.context() as patch:
        patch.setattr(LocalProcessingBackend, "list_tags", throttled)
        capsys.readouterr()
        second = _run(job_files, "run-2")
    assert second["cache_hit"] is False and second["job_name"] != first["job_name"]
    assert "Step cache lookup failed (ClientError" in capsys.readouterr().out
    assert _run(job_files, "run-3")["cached_job"] == second["job_name"]
