"""The compose stack's UI in a real browser (marker ``stack``; ``make stack-test``): Playwright drives
Debian's Chromium (``/usr/bin/chromium``; never ``playwright install``). Log in, open the scikit-learn
DAG, trigger it from the trigger form with a changed Param, wait for success, open a task's log.
Screenshots go to ``$STACK_TEST_ARTIFACTS`` (default ``tests/stack/artifacts/``, git-ignored)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from stack_support import ROOT, AirflowApi, env_setting

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
DAG = "abalone_sklearn_pipeline"
FORM_PARAMS = {"seed": "11", "min_r2": "0.32"}  # defaults 42 and 0.3
UI_TIMEOUT_MS = 120_000  # a busy 2-core machine renders the first pages slowly
RUN_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = ROOT / env_setting("STACK_TEST_ARTIFACTS", "tests/stack/artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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


def _newest_manual_run(api: AirflowApi) -> dict | None:
    runs = api.json("GET", f"/api/v2/dags/{DAG}/dagRuns", params={"order_by": "-run_after", "limit": 5})
    for run in runs["dag_runs"]:
        conf = run.get("conf") or {}
        if run["run_type"] == "manual" and str(conf.get("seed")) == FORM_PARAMS["seed"]:
            return run
    return None


def test_trigger_from_the_form_and_read_a_task_log(
    page, api: AirflowApi, credentials: tuple[str, str], artifacts: Path
) -> None:
    page.goto("/")
    page.locator("input[name=username]").fill(credentials[0])
    page.locator("input[name=password]").fill(credentials[1])
    page.screenshot(path=artifacts / "01-login.png")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/" not in url)

    page.goto(f"/dags/{DAG}")
    page.get_by_text("feature_engineering").first.wait_for()
    page.screenshot(path=artifacts / "02-dag.png")

    page.get_by_role("button", name="Trigger").click()
    form = page.get_by_role("dialog")
    for name, value in FORM_PARAMS.items():
        form.locator(f"input[name=element_{name}]").fill(value)
    page.screenshot(path=artifacts / "03-trigger-form.png", full_page=True)
    form.get_by_role("button", name="Trigger").click()

    deadline = time.monotonic() + 60
    while (run := _newest_manual_run(api)) is None and time.monotonic() < deadline:
        time.sleep(1)
    assert run is not None, f"no manual run with seed {FORM_PARAMS['seed']} 60 s after clicking Trigger"
    assert float(run["conf"]["min_r2"]) == float(FORM_PARAMS["min_r2"]), run["conf"]
    run_id = run["dag_run_id"]
    done = api.wait_for_run(DAG, run_id, RUN_TIMEOUT_S)
    assert done["state"] == "success", f"run {run_id} {done['state']}:\n{api.failure_summary(DAG, run_id)}"

    page.goto(f"/dags/{DAG}/runs/{run_id}")
    page.get_by_text("success").first.wait_for()
    page.screenshot(path=artifacts / "04-run-success.png")

    page.goto(f"/dags/{DAG}/runs/{run_id}/tasks/validation")
    log_line = page.get_by_text("abalone-sklearn-pipeline-validation").first
    log_line.wait_for()
    page.screenshot(path=artifacts / "05-task-log.png")
