"""The UI plugin in a real browser, in Airflow as ``make airflow`` starts it (``scripts/local_airflow.py
standalone``: this repo's DAGs and plugins folder, the local backend). Playwright drives Debian's
Chromium (``/usr/bin/chromium``, never a browser download): log in, open the nav entry, open a job
(log, outputs), stop a running job, then trigger the scikit-learn DAG from its trigger form with
changed Params, wait for the run's success, open its first task's log, follow its extra link and its
task-instance tab. Screenshots: ``tmp/artifacts/ui-plugin/`` (git-ignored)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sagemaker_processing_provider.links.processing import JOB_NAME_KEY
from sagemaker_processing_provider.local.backend import LocalProcessingBackend
from ui_support import REPO, free_port, run_job, stop_process_group, token, wait, wait_for_log, wait_healthy

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("SM_PROCESSING_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
ARTIFACTS = REPO / "tmp" / "artifacts" / "ui-plugin"
DAG = "abalone_sklearn_pipeline"
TASK = "feature_engineering"
FORM = {"seed": "7", "train_ratio": "0.6"}  # typed into the trigger form
UI_TIMEOUT_MS = 120_000  # a busy 2-core machine renders the first pages slowly


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """``scripts/local_airflow.py standalone`` on a free port, with its own home and job store."""
    assert CHROMIUM.is_file(), f"{CHROMIUM} missing: apt-get install -y chromium"
    root = tmp_path_factory.mktemp("ui-browser")
    port = free_port()
    home = root / "airflow"
    env = {**os.environ, "SM_PROCESSING_HOME": str(root / "store")}
    env.pop("AIRFLOW_HOME", None)  # the script sets its own (--airflow-home)
    log = root / "standalone.log"
    command = [sys.executable, str(REPO / "scripts" / "local_airflow.py"), "--airflow-home", str(home)]
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*command, "standalone", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://localhost:{port}"
    backend = LocalProcessingBackend(home=root / "store")
    try:
        run_job(backend, root, "ui-browser-done", "ok")
        run_job(backend, root, "ui-browser-running", "sleep")
        wait_healthy(url, proc, log, timeout=400)
        password = _admin_password(home, proc, log)
        yield {"url": url, "password": password, "backend": backend, "token": token(url, "admin", password)}
    finally:
        stop_process_group(proc)
        status = backend.describe_processing_job(ProcessingJobName="ui-browser-running")[
            "ProcessingJobStatus"
        ]
        if status == "InProgress":
            backend.stop_processing_job(ProcessingJobName="ui-browser-running")


def _admin_password(home: Path, proc: subprocess.Popen, log: Path) -> str:
    """The password ``airflow standalone`` generated for ``admin`` (the file the script points to)."""
    passwords = home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if passwords.is_file() and passwords.read_text().strip():
            return json.loads(passwords.read_text())["admin"]
        assert proc.poll() is None, log.read_text()[-4000:]
        time.sleep(1)
    raise AssertionError(f"no {passwords} after 120 s")


@pytest.fixture(scope="module")
def page(airflow: dict) -> Iterator:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, base_url=airflow["url"])
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            page.goto("/")  # the simple auth manager's login form, as a user sees it
            page.locator("input[name=username]").fill("admin")
            page.locator("input[name=password]").fill(airflow["password"])
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "/auth/" not in url)
            yield page
        finally:
            browser.close()


def _api(airflow: dict) -> httpx.Client:
    headers = {"Authorization": f"Bearer {airflow['token']}"}
    return httpx.Client(base_url=airflow["url"], headers=headers, timeout=60)


def _run_from_trigger_form(page, airflow: dict) -> tuple[str, str]:
    """Trigger the scikit-learn DAG from its trigger form with changed Params (the Params issue 9's
    item 8 found failing), as the stack's browser test does; wait for the whole run's success (unpausing
    also creates a scheduled run: the manual one must not wait for it); its run id and first task's job."""
    page.goto(f"/dags/{DAG}")
    page.get_by_text(TASK).first.wait_for()
    page.get_by_role("button", name="Trigger").click()
    form = page.get_by_role("dialog")
    for name, value in FORM.items():
        form.locator(f"input[name=element_{name}]").fill(value)
    page.screenshot(path=ARTIFACTS / "04-trigger-form.png", full_page=True)
    form.get_by_role("button", name="Trigger").click()
    with _api(airflow) as api:
        deadline = time.monotonic() + 900
        run: dict = {}
        while time.monotonic() < deadline:
            runs = api.get(f"/api/v2/dags/{DAG}/dagRuns").json()["dag_runs"]
            typed = [r for r in runs if r["run_type"] == "manual" and _typed(r.get("conf") or {})]
            run = typed[0] if typed else {}
            assert run.get("state") != "failed", run
            if run.get("state") == "success":
                xcom = f"/api/v2/dags/{DAG}/dagRuns/{run['dag_run_id']}/taskInstances/{TASK}/xcomEntries/{JOB_NAME_KEY}"
                return run["dag_run_id"], api.get(xcom, params={"deserialize": True}).json()["value"]
            time.sleep(2)
    raise AssertionError(f"the manual run of {DAG} with {FORM} did not succeed within 900 s: {run}")


def _typed(conf: dict) -> bool:
    return all(str(conf.get(key)) == value for key, value in FORM.items())


def test_jobs_in_the_airflow_ui(page, airflow: dict) -> None:
    backend = airflow["backend"]
    wait(backend, "ui-browser-done")
    wait_for_log(backend, "ui-browser-running", "sleeping until stopped")

    page.goto("/")
    # the nav entry (under Browse) shows the job list in the UI's frame
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="SageMaker Processing").click()
    page.wait_for_url("**/plugin/sm-processing")
    frame = page.frame_locator("iframe[title='SageMaker Processing']")
    frame.get_by_role("link", name="ui-browser-running").wait_for()
    page.screenshot(path=ARTIFACTS / "01-nav-job-list.png")

    # a job's page: status, timeline, outputs and log
    frame.get_by_role("link", name="ui-browser-done").click()
    frame.locator("#log").get_by_text("ui-test job done").wait_for()
    assert "result.csv" in frame.locator("#outputs").inner_text()
    assert "Ended: Completed" in frame.locator("#timeline").inner_text()
    page.screenshot(path=ARTIFACTS / "02-job-page.png", full_page=True)

    # Stop on the running job
    page.goto("/sm-processing/jobs/ui-browser-running")
    page.get_by_role("button", name="Stop job").click()
    page.get_by_text("Stop requested: ui-browser-running is").wait_for()
    page.screenshot(path=ARTIFACTS / "03-stop-requested.png")
    assert wait(backend, "ui-browser-running")["ProcessingJobStatus"] == "Stopped"
    page.reload()
    page.get_by_text("Ended: Stopped").wait_for()
    assert page.get_by_role("button", name="Stop job").count() == 0


def test_a_tasks_extra_link_and_tab_lead_to_its_job(page, airflow: dict) -> None:
    run_id, name = _run_from_trigger_form(page, airflow)
    assert airflow["backend"].store.exists(name)
    with _api(airflow) as api:  # what the UI's Extra Links ask for
        links = api.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/{TASK}/links").json()
    assert links["extra_links"]["SageMaker Processing Job"] == f"/sm-processing/jobs/{name}", links
    page.goto(f"/dags/{DAG}/runs/{run_id}/tasks/{TASK}")  # the task's log names its job
    page.get_by_text(name).first.wait_for()
    page.screenshot(path=ARTIFACTS / "05-task-log.png")
    page.goto(f"/dags/{DAG}/runs/{run_id}/tasks/{TASK}/details")  # the tab with the extra links
    link = page.get_by_role("link", name="SageMaker Processing Job")
    try:
        link.wait_for()
    except Exception:
        page.screenshot(path=ARTIFACTS / "06-FAILED-task-details.png", full_page=True)
        raise
    page.screenshot(path=ARTIFACTS / "06-task-extra-links.png")
    assert link.get_attribute("href") == f"/sm-processing/jobs/{name}"
    link.click()
    page.wait_for_url(f"**/sm-processing/jobs/{name}")
    page.get_by_text("Ended: Completed").wait_for()
    page.screenshot(path=ARTIFACTS / "07-extra-link-job-page.png", full_page=True)

    # the task-instance tab shows the same job inside the UI
    page.goto(f"/dags/{DAG}/runs/{run_id}/tasks/{TASK}/plugin/sm-processing-task")
    frame = page.frame_locator("iframe[title='Processing job']")
    frame.get_by_role("heading", name=name).wait_for()
    page.screenshot(path=ARTIFACTS / "08-task-instance-tab.png")
