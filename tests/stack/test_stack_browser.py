"""The compose stack's UI in a real browser (marker ``stack``; ``make stack-test``): Playwright drives
Debian's Chromium (``/usr/bin/chromium``; never ``playwright install``).

Logged in once, it triggers the three pipeline DAGs from their trigger forms with changed Params, the
scikit-learn one twice: on the local backend with local paths (connection ``aws_default``) and on the
AWS code path (connection ``sagemaker_processing_stack_aws``: the stack's SageMaker endpoint and S3,
``s3://`` input and outputs). The form's "unpause" is left on, so each DAG also gets the scheduled run
unpausing creates; the manual run must not wait for it (issue 9, item 7). All runs are triggered
first and run side by side; then, per run: success, the run and a task log in the UI, the UI plugin's
job view (``check_plugin_job_view``), the backend each job ran on, and the outputs (the job-store
volume, or objects in SeaweedFS). Screenshots and per-run figures go to ``$STACK_TEST_ARTIFACTS``
(default ``tests/stack/artifacts/``, git-ignored)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sagemaker_processing_provider.links.processing import JOB_NAME_KEY
from stack_support import ROOT, AirflowApi, aws_client, compose, env_setting, stack_bucket

sys.path.insert(0, str(ROOT / "dags"))
from abalone.pipeline import path_safe  # noqa: E402  (the run folder naming the DAGs use)

pytestmark = pytest.mark.stack

CHROMIUM = Path(env_setting("STACK_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
UI_TIMEOUT_MS = 120_000  # a busy 2-core machine renders the first pages slowly
RUN_TIMEOUT_S = 1200  # all runs share two cores
JOB_STORE = "/opt/airflow/sm-processing"
AWS_CONN = "sagemaker_processing_stack_aws"
STEPS = ("feature_engineering", "split", "validation")
OUTPUTS = {"features", "transform", "train", "validation", "test", "report"}


@dataclass(frozen=True)
class UiCase:
    """One manual run from a trigger form: what is typed into it, and where its outputs must land."""

    name: str  # screenshot prefix and test id
    dag_id: str
    form: dict[str, str]  # Param -> text typed into the form
    backend: str  # what each task's XCom says it ran on: local | aws

    @property
    def seed(self) -> int:
        return int(self.form["seed"])


def _cases() -> tuple[UiCase, ...]:
    bucket = stack_bucket()
    aws_form = {
        "aws_conn_id": AWS_CONN,
        "input_uri": f"s3://{bucket}/data/abalone.csv",
        "output_root_uri": f"s3://{bucket}/pipelines",
        "seed": "7",
    }
    return (
        UiCase("sklearn-local", "abalone_sklearn_pipeline", {"seed": "11", "min_r2": "0.32"}, "local"),
        UiCase("sklearn-aws", "abalone_sklearn_pipeline", aws_form, "aws"),
        UiCase("pyspark-local", "abalone_pyspark_pipeline", {"seed": "11", "min_r2": "0.31"}, "local"),
        UiCase("scala-local", "abalone_scala_pipeline", {"seed": "11", "min_r2": "0.31"}, "local"),
    )


CASES = _cases()
# The first case of each DAG: its trigger unpaused the DAG (the form's default), creating a scheduled run.
UNPAUSING = tuple(c for i, c in enumerate(CASES) if c.dag_id not in {d.dag_id for d in CASES[:i]})
SCHEDULED_OVERLAP_S = 180  # the manual run starts within seconds; a scikit-learn scheduled run takes ~1 min


@dataclass
class Triggered:
    run_id: str
    clicked: float  # time.monotonic() when Trigger was clicked


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = ROOT / env_setting("STACK_TEST_ARTIFACTS", "tests/stack/artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _record(artifacts: Path, name: str, seconds: float) -> None:
    """Adds one figure to measurements.json (stack_test.sh prints them; the README quotes them)."""
    path = artifacts / "measurements.json"
    measured = json.loads(path.read_text()) if path.is_file() else {}
    measured[name] = round(seconds, 1)
    path.write_text(json.dumps(measured, indent=2) + "\n")
    print(f"\nstack-test: {name}: {seconds:.1f} s")


@pytest.fixture(scope="module")
def page(stack_url: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), f"{CHROMIUM} missing: apt-get install chromium (make stack-test does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, base_url=stack_url)
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield page
        finally:
            browser.close()


def _log_in(page, credentials: tuple[str, str], artifacts: Path) -> None:
    page.goto("/")
    page.locator("input[name=username]").fill(credentials[0])
    page.locator("input[name=password]").fill(credentials[1])
    page.screenshot(path=artifacts / "00-login.png")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/" not in url)


def _find_manual_run(api: AirflowApi, case: UiCase, taken: set[str]) -> dict | None:
    """The manual run whose conf holds what was typed into the form (the form sends every Param)."""
    runs = api.json(
        "GET", f"/api/v2/dags/{case.dag_id}/dagRuns", params={"order_by": "-run_after", "limit": 10}
    )
    for run in runs["dag_runs"]:
        conf = run.get("conf") or {}
        typed = all(str(conf.get(k)) == v for k, v in case.form.items())
        if run["run_type"] == "manual" and typed and run["dag_run_id"] not in taken:
            return run
    return None


def _trigger_from_form(page, api: AirflowApi, case: UiCase, artifacts: Path, taken: set[str]) -> Triggered:
    page.goto(f"/dags/{case.dag_id}")
    page.get_by_text("feature_engineering").first.wait_for()
    page.screenshot(path=artifacts / f"{case.name}-1-dag.png")
    page.get_by_role("button", name="Trigger").click()
    form = page.get_by_role("dialog")
    for name, value in case.form.items():
        form.locator(f"input[name=element_{name}]").fill(value)
    page.screenshot(path=artifacts / f"{case.name}-2-trigger-form.png", full_page=True)
    form.get_by_role("button", name="Trigger").click()
    clicked = time.monotonic()
    deadline = clicked + 60
    while (run := _find_manual_run(api, case, taken)) is None and time.monotonic() < deadline:
        time.sleep(1)
    assert run is not None, f"{case.name}: no manual run with conf {case.form} 60 s after clicking Trigger"
    taken.add(run["dag_run_id"])
    return Triggered(run["dag_run_id"], clicked)


@pytest.fixture(scope="module")
def triggered(page, api: AirflowApi, credentials: tuple[str, str], artifacts: Path) -> dict[str, Triggered]:
    """Every case triggered from the UI, one after the other, before any is waited for."""
    _log_in(page, credentials, artifacts)
    taken: set[str] = set()
    return {case.name: _trigger_from_form(page, api, case, artifacts, taken) for case in CASES}


def _iso(value: str | None) -> datetime:
    return datetime.fromisoformat(value) if value else datetime.now(UTC)


def _xcom_result(api: AirflowApi, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    value = api.json("GET", path, params={"deserialize": "true", "stringify": "false"})["value"]
    return json.loads(value) if isinstance(value, str) else value


def check_plugin_job_view(page, api: AirflowApi, case: UiCase, run_id: str, artifacts: Path) -> None:
    """The UI plugin from the validation task: its extra link (a same-origin job page for a local job,
    the SageMaker console for the AWS path) and its task-instance tab, which shows the job."""
    task = f"/dags/{case.dag_id}/runs/{run_id}/tasks/validation"
    xcom = f"/api/v2/dags/{case.dag_id}/dagRuns/{run_id}/taskInstances/validation/xcomEntries/{JOB_NAME_KEY}"
    name = api.json("GET", xcom, params={"deserialize": "true", "stringify": "false"})["value"]
    page.goto(f"{task}/details")  # the tab with the extra links
    link = page.get_by_role("link", name="SageMaker Processing Job")
    link.wait_for()
    page.screenshot(path=artifacts / f"{case.name}-5-extra-links.png")
    href = link.get_attribute("href") or ""
    page.goto(f"{task}/plugin/sm-processing-task")
    frame = page.frame_locator("iframe[title='Processing job']")
    if case.backend == "aws":  # a job of the endpoint: the console of AWS, as on AWS
        assert href.startswith("https://") and name in href, href
        frame.get_by_text(f"This task's job {name} runs on AWS").wait_for()
        page.screenshot(path=artifacts / f"{case.name}-6-job-view.png")
        return
    assert href == f"/sm-processing/jobs/{name}", href
    frame.get_by_role("heading", name=name).wait_for()
    frame.get_by_text("Ended: Completed").wait_for()
    assert "validation_report.json" in frame.locator("#outputs").inner_text()
    page.screenshot(path=artifacts / f"{case.name}-6-job-view.png", full_page=True)
    page.goto(href)  # where the extra link leads: the job page, same origin
    page.locator("#log").get_by_text("[sm-processing]").first.wait_for()


def _check_volume_outputs(case: UiCase, run_id: str) -> None:
    run_dir = f"{JOB_STORE}/pipelines/{case.dag_id}/{path_safe(run_id)}"
    read = (
        "import json, os, sys; d = sys.argv[1]; "
        "print(json.dumps({'pre': json.load(open(d + '/transform/preprocessing.json')), "
        "'report': json.load(open(d + '/report/validation_report.json')), 'listing': os.listdir(d)}))"
    )
    found = json.loads(compose("exec", "-T", "airflow-scheduler", "python", "-c", read, run_dir))
    assert set(found["listing"]) >= OUTPUTS, found["listing"]
    _check_reports(case, found["pre"], found["report"])


def _check_s3_outputs(case: UiCase, run_id: str) -> None:
    s3, bucket = aws_client("s3"), stack_bucket()
    prefix = f"pipelines/{case.dag_id}/{path_safe(run_id)}/"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    keys = {o["Key"][len(prefix) :] for o in listed}
    assert {k.split("/")[0] for k in keys} >= OUTPUTS, sorted(keys)

    def read(key: str) -> dict:
        return json.loads(s3.get_object(Bucket=bucket, Key=prefix + key)["Body"].read())

    _check_reports(case, read("transform/preprocessing.json"), read("report/validation_report.json"))


def _check_reports(case: UiCase, preprocessing: dict, report: dict) -> None:
    assert preprocessing["seed"] == case.seed, preprocessing
    assert report["status"] == "passed", report
    if "min_r2" in case.form:
        assert report["thresholds"]["min_r2"] == float(case.form["min_r2"]), report["thresholds"]


def _check_jobs_ran_on_their_backend(api: AirflowApi, case: UiCase, run_id: str) -> None:
    """Each task's result names its backend; on the AWS code path the endpoint itself knows the job."""
    endpoint = aws_client("sagemaker") if case.backend == "aws" else None
    for task_id in STEPS:
        result = _xcom_result(api, case.dag_id, run_id, task_id)
        assert result["backend"] == case.backend and result["status"] == "Completed", result
        if endpoint is not None:
            described = endpoint.describe_processing_job(ProcessingJobName=result["job_name"])
            assert described["ProcessingJobStatus"] == "Completed", described


def _started(api: AirflowApi, dag_id: str, run_id: str, timeout: float) -> dict:
    """The run once it has a start date (or as it is at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        run = api.json("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        if run["start_date"] or time.monotonic() > deadline:
            return run
        time.sleep(1)


@pytest.mark.parametrize("case", UNPAUSING, ids=[c.dag_id for c in UNPAUSING])
def test_manual_run_does_not_wait_for_the_scheduled_run(
    case: UiCase, api: AirflowApi, triggered: dict[str, Triggered]
) -> None:
    """Issue 9, item 7: unpausing from the trigger form creates the scheduled run of the latest
    interval first; the manual run must start while that run still runs, not after it.

    Then the scheduled run is marked failed (its tasks are stopped, their jobs with them): the test
    only needs its manual runs, and on two cores the scheduled Spark runs doubled its duration."""
    manual = _started(api, case.dag_id, triggered[case.name].run_id, SCHEDULED_OVERLAP_S)
    runs = api.json("GET", f"/api/v2/dags/{case.dag_id}/dagRuns", params={"limit": 20})["dag_runs"]
    scheduled = [r for r in runs if r["run_type"] == "scheduled"]
    assert len(scheduled) == 1, f"{case.dag_id}: expected the one scheduled run unpausing creates: {runs}"
    other = scheduled[0]
    assert manual["start_date"], (
        f"manual run {manual['dag_run_id']} not started {SCHEDULED_OVERLAP_S} s after the trigger; "
        f"scheduled run {other['dag_run_id']} is {other['state']}: it waits (max_active_runs?)"
    )
    assert _iso(manual["start_date"]) < _iso(other["end_date"]), (
        f"manual run {manual['dag_run_id']} started {manual['start_date']}, after the scheduled run "
        f"{other['dag_run_id']} ended {other['end_date']}: it waited (max_active_runs?)"
    )
    if other["state"] in ("queued", "running"):
        path = f"/api/v2/dags/{case.dag_id}/dagRuns/{other['dag_run_id']}"
        api.json("PATCH", path, json={"state": "failed"})


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_triggered_from_the_ui_runs_to_success(
    case: UiCase, page, api: AirflowApi, triggered: dict[str, Triggered], artifacts: Path
) -> None:
    run_id = triggered[case.name].run_id
    run = api.wait_for_run(case.dag_id, run_id, RUN_TIMEOUT_S)
    assert run["state"] == "success", f"{run_id} {run['state']}:\n{api.failure_summary(case.dag_id, run_id)}"
    _record(
        artifacts, f"{case.name}: trigger click to success", time.monotonic() - triggered[case.name].clicked
    )
    _record(
        artifacts,
        f"{case.name}: run start to end",
        (_iso(run["end_date"]) - _iso(run["start_date"])).total_seconds(),
    )

    page.goto(f"/dags/{case.dag_id}/runs/{run_id}")
    page.get_by_text("success").first.wait_for()
    page.screenshot(path=artifacts / f"{case.name}-3-run-success.png")
    page.goto(f"/dags/{case.dag_id}/runs/{run_id}/tasks/validation")
    page.get_by_text(f"{case.dag_id}-validation".replace("_", "-")).first.wait_for()
    page.screenshot(path=artifacts / f"{case.name}-4-task-log.png")
    check_plugin_job_view(page, api, case, run_id, artifacts)

    _check_jobs_ran_on_their_backend(api, case, run_id)
    if case.backend == "aws":
        _check_s3_outputs(case, run_id)
    else:
        _check_volume_outputs(case, run_id)
