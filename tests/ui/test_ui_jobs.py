"""The job pages' data and HTML, from real jobs run by the local backend in a private store."""

from __future__ import annotations

from collections.abc import Iterator
from html import escape
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sagemaker_processing_provider.api import client_errors
from sagemaker_processing_provider.backends.local import LocalBackend
from sagemaker_processing_provider.local.backend import LocalProcessingBackend
from sagemaker_processing_provider.ui import jobs, render
from ui_support import run_job, wait, wait_for_log


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Three real jobs: completed, failed, and one sleeping until a test stops it."""
    root = tmp_path_factory.mktemp("ui-jobs")
    backend = LocalProcessingBackend(home=root / "store")
    names = {mode: f"ui-{mode}-job" for mode in ("ok", "fail", "sleep")}
    outs = {mode: run_job(backend, root, name, mode) for mode, name in names.items()}
    wait(backend, names["ok"])
    wait(backend, names["fail"])
    wait_for_log(backend, names["sleep"], "sleeping until stopped")
    yield {"backend": backend, "names": names, "outs": outs}
    if (
        backend.describe_processing_job(ProcessingJobName=names["sleep"])["ProcessingJobStatus"]
        == "InProgress"
    ):
        backend.stop_processing_job(ProcessingJobName=names["sleep"])


def test_list_is_newest_first_and_filters_by_status(store: dict) -> None:
    backend, names = store["backend"], store["names"]
    summaries, token = jobs.list_jobs(backend)
    assert [s["ProcessingJobName"] for s in summaries] == [names["sleep"], names["fail"], names["ok"]]
    assert token is None
    failed, _ = jobs.list_jobs(backend, status="Failed")
    assert [s["ProcessingJobName"] for s in failed] == [names["fail"]]
    assert jobs.list_jobs(backend, name_contains="sleep")[0][0]["ProcessingJobName"] == names["sleep"]


def test_list_pages(store: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "PAGE_SIZE", 2)
    first, token = jobs.list_jobs(store["backend"])
    rest, last = jobs.list_jobs(store["backend"], token=token)
    assert len(first) == 2 and token and last is None
    assert [s["ProcessingJobName"] for s in rest] == [store["names"]["ok"]]
    html = render.job_list(first, status=None, name_contains="ui", next_token=token, home="/h")
    assert f'href="/sm-processing/jobs?{escape(urlencode({"name": "ui", "next": token}))}"' in html


def test_completed_job_page(store: dict) -> None:
    backend, name, out = store["backend"], store["names"]["ok"], store["outs"]["ok"]
    page = jobs.job_page(backend, name)
    assert page.status == "Completed" and not page.stoppable
    events = [event for _, event in page.timeline]
    assert events == ["Created: InProgress", "Started: the job's processes run", "Ended: Completed"]
    times = [t for t, _ in page.timeline]
    assert times == sorted(times)
    assert "ui-test job done" in page.log and page.log_skipped == 0
    assert page.request["AppSpecification"]["ContainerEntrypoint"][-1] == "ok"  # the request as accepted
    [result] = page.outputs
    assert result.folder == str(out) and result.exists and not result.truncated
    assert result.files == [("result.csv", 404), ("nested/report.json", 12)]  # a folder, then its subfolders
    html = render.job_detail(page)
    assert "Stop job" not in html and "result.csv" in html and "404 B" in html
    assert f'href="/sm-processing/jobs/{name}/log"' in html


def test_failed_job_timeline_names_the_reason(store: dict) -> None:
    page = jobs.job_page(store["backend"], store["names"]["fail"])
    assert page.status == "Failed"
    assert page.timeline[-1][1].startswith("Ended: Failed (")
    assert "failing on purpose" in page.log


def test_stop_a_running_job_then_refuse_a_second_stop(store: dict) -> None:
    backend, name = store["backend"], store["names"]["sleep"]
    page = jobs.job_page(backend, name)
    assert page.status == "InProgress" and page.stoppable
    assert 'action="/sm-processing/jobs/ui-sleep-job/stop"' in render.job_detail(page)
    jobs.stop(backend, name)
    assert jobs.job_page(backend, name).timeline[-1][1] in ("Stop requested: Stopping", "Ended: Stopped")
    wait(backend, name)
    page = jobs.job_page(backend, name)
    assert page.status == "Stopped" and page.timeline[-1][1] == "Ended: Stopped"
    assert "stop requested: terminating the job's processes" in page.notes
    with pytest.raises(client_errors.ValidationException, match="in status Stopped"):
        jobs.stop(backend, name)


@pytest.mark.parametrize("name", ["../jobs", "a/b", ".hidden", "x" * 64, ""])
def test_names_that_are_not_job_names_are_refused(store: dict, name: str) -> None:
    with pytest.raises(client_errors.ValidationException, match="processingJobName"):
        jobs.job_page(store["backend"], name)


def test_unknown_job_is_not_found(store: dict) -> None:
    with pytest.raises(client_errors.JobNotFound):
        jobs.job_page(store["backend"], "no-such-job")


def test_log_tail_keeps_whole_last_lines(store: dict) -> None:
    backend, name = store["backend"], store["names"]["ok"]
    whole = jobs.full_log(backend, name)
    tail = backend.log_tail(name, max_bytes=100)
    assert tail["skipped"] > 0 and tail["events"] and tail["events"] == whole[-len(tail["events"]) :]
    last = whole[-1].encode()
    tiny = backend.log_tail(name, max_bytes=len(last))  # the end of a line longer than the budget
    assert tiny["events"] == [whole[-1][-len(last) + 1 :]] and tiny["skipped"] > 0


def test_outputs_elsewhere() -> None:
    remote = jobs.listing({"OutputName": "r", "S3Output": {"S3Uri": "s3://bucket/a/b"}})
    assert remote.link == "https://s3.console.aws.amazon.com/s3/buckets/bucket?prefix=a%2Fb%2F"
    missing = jobs.listing({"OutputName": "m", "S3Output": {"S3Uri": "file:///nonexistent/ui-test"}})
    assert missing.folder == "/nonexistent/ui-test" and not missing.exists and missing.files == []
    assert "No folder /nonexistent/ui-test" in render.outputs([missing])


def test_task_view_of_a_job_on_aws() -> None:
    console = "https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/processing-jobs/j-1"
    html = render.task_without_job("d", "r", "t", "j-1", console, "/h")
    assert f'href="{escape(console)}"' in html and "job j-1 runs on AWS" in html
    elsewhere = render.task_without_job("d", "r", "t", "gone", "/sm-processing/jobs/gone", "/h")
    assert "ran job <code>gone</code>, which is not in this server's job store (<code>/h</code>)" in elsewhere
    assert "recorded no processing job" in render.task_without_job("d", "r", "t", None, None, "/h")


def test_listing_stops_at_the_limit(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"f{i}").write_text("x" * i)
    (tmp_path / "link").symlink_to(tmp_path / "f4")
    files, truncated = jobs.folder_files(tmp_path, 3)
    assert files == [("f0", 0), ("f1", 1), ("f2", 2)] and truncated
    assert jobs.folder_files(tmp_path, 10) == ([(f"f{i}", i) for i in range(5)], False)  # no symlink


def test_local_links_are_same_origin_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    backend = LocalBackend(home=tmp_path)
    assert backend.console_urls("j-1") == {
        "job": "/sm-processing/jobs/j-1",
        "logs": "/sm-processing/jobs/j-1/log",
    }
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://example.org/airflow/")
    assert backend.console_urls("j-1")["job"] == "/airflow/sm-processing/jobs/j-1"


FOREIGN_DESCRIBE = """
import sys
from sagemaker_processing_provider.local.backend import LocalProcessingBackend
backend = LocalProcessingBackend(home=sys.argv[1])
print(backend.describe_processing_job(ProcessingJobName=sys.argv[2])["ProcessingJobStatus"])
if sys.argv[3] == "stop":
    backend.stop_processing_job(ProcessingJobName=sys.argv[2])
"""


def test_a_job_seen_from_another_pid_namespace_is_not_settled(tmp_path: Path) -> None:
    """The UI plugin in the API server's container describes jobs the scheduler's container runs: their
    pids are not visible there. Such a look must not settle the running job as Failed; Stop works."""
    import shutil
    import subprocess
    import sys

    unshare = shutil.which("unshare")
    assert unshare, "util-linux's unshare is needed (the local backend's sandbox uses it too)"
    backend = LocalProcessingBackend(home=tmp_path / "store")
    run_job(backend, tmp_path, "ui-foreign-ns", "sleep")
    wait_for_log(backend, "ui-foreign-ns", "sleeping until stopped")
    command = [unshare, "--pid", "--fork", "--mount-proc", sys.executable, "-c", FOREIGN_DESCRIBE]
    for action in ("look", "stop"):
        seen = subprocess.run(
            [*command, str(backend.home), "ui-foreign-ns", action],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert seen.returncode == 0, seen.stderr[-3000:]
        assert seen.stdout.split() == ["InProgress"]  # before: "Failed" (runner and watchdog "gone")
    job = wait(backend, "ui-foreign-ns")  # the stop asked from the other namespace, obeyed by the job's own
    assert job["ProcessingJobStatus"] == "Stopped", job.get("FailureReason")
