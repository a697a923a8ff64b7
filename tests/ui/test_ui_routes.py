"""The plugin's routes in Airflow's real API server (``airflow api-server``, simple auth manager), loaded
from this repo's plugins folder, over a real job store: jobs run by the local backend and one run by a
DAG under ``airflow dags test`` (its XComs give the task-instance view and the extra links)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from sagemaker_processing_provider.local.backend import LocalProcessingBackend
from ui_support import (
    AIRFLOW,
    REPO,
    free_port,
    run_job,
    stop_process_group,
    token,
    wait,
    wait_for_log,
    wait_healthy,
)

pytestmark = pytest.mark.slow  # a DAG run and an API server: about a minute

DAG_FILE = """
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG
from sagemaker_processing_provider.operators.sklearn import SKLearnProcessorOperator

with DAG("ui_test_dag", schedule=None):
    SKLearnProcessorOperator(
        task_id="proc",
        base_job_name="ui-test-dag",
        framework_version="1.2-1",
        instance_type="ml.m5.xlarge",
        code={code!r},
        check_interval=0.5,
    ) >> EmptyOperator(task_id="after")
"""
PASSWORDS = {"admin": "admin-pw", "viewer": "viewer-pw"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, with_migrated_db) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("ui-routes")
    with_migrated_db(root / "airflow")  # the session's migrated database, not a migrate of its own
    (root / "dags").mkdir()
    (root / "dag_job.py").write_text("print('hello from the DAG job', flush=True)\n")
    (root / "dags" / "ui_test_dag.py").write_text(DAG_FILE.format(code=str(root / "dag_job.py")))
    (root / "passwords.json").write_text(json.dumps(PASSWORDS))
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(root / "passwords.json"),
        "SM_PROCESSING_HOME": str(root / "store"),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "extra": {"processing_backend": "local"}}
        ),
    }
    run = subprocess.run(
        [AIRFLOW, "dags", "test", "ui_test_dag"], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    backend = LocalProcessingBackend(home=root / "store")
    run_job(backend, root, "ui-routes-done", "ok")
    run_job(backend, root, "ui-routes-running", "sleep")
    wait(backend, "ui-routes-done")
    wait_for_log(backend, "ui-routes-running", "sleeping until stopped")
    log = root / "api-server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [AIRFLOW, "api-server", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        tokens = {user: token(url, user, password) for user, password in PASSWORDS.items()}
        yield {"url": url, "tokens": tokens, "backend": backend, "log": log}
    finally:
        stop_process_group(proc)
        if (
            backend.describe_processing_job(ProcessingJobName="ui-routes-running")["ProcessingJobStatus"]
            == "InProgress"
        ):
            backend.stop_processing_job(ProcessingJobName="ui-routes-running")


def client(server: dict, user: str | None = None, **headers: str) -> httpx.Client:
    if user:
        headers["Authorization"] = f"Bearer {server['tokens'][user]}"
    return httpx.Client(base_url=server["url"], headers=headers, timeout=60)


def dag_job(server: dict) -> tuple[str, str]:
    """The run id of ``ui_test_dag``'s one run and the job its ``proc`` task ran."""
    with client(server, "admin") as http:
        [run] = http.get("/api/v2/dags/ui_test_dag/dagRuns").json()["dag_runs"]
    names = [n for n in server["backend"].store.names() if n.startswith("ui-test-dag")]
    assert len(names) == 1, names
    return run["dag_run_id"], names[0]


def test_anonymous_requests_are_refused_or_sent_to_login(server: dict) -> None:
    with client(server) as http:
        assert http.get("/sm-processing/jobs").status_code == 401
        assert http.post("/sm-processing/jobs/ui-routes-running/stop").status_code == 401
        browser = http.get("/sm-processing/jobs/ui-routes-done", headers={"Accept": "text/html"})
        assert browser.status_code == 303
        assert browser.headers["location"].startswith("/auth/login?next=")
        assert "%2Fsm-processing%2Fjobs%2Fui-routes-done" in browser.headers["location"]
    with client(server, Authorization="Bearer not-a-jwt") as http:
        assert http.get("/sm-processing/jobs").status_code == 403


def test_logged_in_user_sees_the_job_list_and_a_job(server: dict) -> None:
    _, dag_job_name = dag_job(server)
    with client(server, "viewer") as http:
        listed = http.get("/sm-processing/jobs")
        assert listed.status_code == 200 and "text/html" in listed.headers["content-type"]
        for name in ("ui-routes-done", "ui-routes-running", dag_job_name):
            assert f'href="/sm-processing/jobs/{name}"' in listed.text
        page = http.get("/sm-processing/jobs/ui-routes-done")
        assert page.status_code == 200
        assert (
            "ui-test job done" in page.text and "result.csv" in page.text and "Ended: Completed" in page.text
        )
        assert "Stop job" not in page.text
        log = http.get("/sm-processing/jobs/ui-routes-done/log")
        assert log.headers["content-type"].startswith("text/plain") and "step 2\n" in log.text
        assert "Completed" in http.get("/sm-processing/jobs", params={"status": "Completed"}).text
        assert http.get("/sm-processing/jobs", params={"status": "Bogus"}).status_code == 400
        bad_page = http.get("/sm-processing/jobs", params={"next": "bogus"})  # passed to the backend
        assert bad_page.status_code == 400 and "Invalid pagination token" in bad_page.text


def test_the_ui_session_cookie_is_enough(server: dict) -> None:
    """The Airflow UI's iframe sends the ``_token`` cookie, not a header."""
    with httpx.Client(base_url=server["url"], cookies={"_token": server["tokens"]["viewer"]}) as http:
        assert http.get("/sm-processing/jobs/ui-routes-done").status_code == 200


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/sm-processing/jobs/.hidden", 400),  # the backend's name check, named in the page
        ("/sm-processing/jobs/x..y", 400),
        ("/sm-processing/jobs/..%2F..%2Fetc", 404),  # a decoded "/" matches no route
        ("/sm-processing/jobs/%2E%2E", 400),
    ],
)
def test_names_from_urls_are_validated(server: dict, path: str, status: int) -> None:
    with client(server, "admin") as http:
        answer = http.get(path)
    assert answer.status_code == status, answer.text
    if status == 400:
        assert "processingJobName" in answer.text and "failed to satisfy constraint" in answer.text


def test_unknown_job_is_404(server: dict) -> None:
    with client(server, "admin") as http:
        answer = http.get("/sm-processing/jobs/no-such-job")
    assert answer.status_code == 404 and "Could not find requested job with name no-such-job" in answer.text


def test_stop_needs_write_access_and_a_running_job(server: dict) -> None:
    backend = server["backend"]
    with client(server, "viewer") as http:
        assert http.post("/sm-processing/jobs/ui-routes-running/stop").status_code == 403
    with client(server, "admin", Origin="http://evil.example") as http:
        assert http.post("/sm-processing/jobs/ui-routes-running/stop").status_code == 403
    assert (
        backend.describe_processing_job(ProcessingJobName="ui-routes-running")["ProcessingJobStatus"]
        == "InProgress"
    )
    with client(server, "admin") as http:
        refused = http.post("/sm-processing/jobs/ui-routes-done/stop")
        assert refused.status_code == 409
        assert "Not stopped: ui-routes-done already ended (Completed)" in refused.text
        stopped = http.post("/sm-processing/jobs/ui-routes-running/stop")
        assert stopped.status_code == 303
        assert stopped.headers["location"] == "/sm-processing/jobs/ui-routes-running?stopped=true"
        assert "Stop requested: ui-routes-running is" in http.get(stopped.headers["location"]).text
    assert wait(backend, "ui-routes-running")["ProcessingJobStatus"] == "Stopped"


def test_extra_links_lead_to_the_job_page(server: dict) -> None:
    run_id, name = dag_job(server)
    with client(server, "viewer") as http:
        links = http.get(f"/api/v2/dags/ui_test_dag/dagRuns/{run_id}/taskInstances/proc/links").json()
        assert links["extra_links"] == {
            "SageMaker Processing Job": f"/sm-processing/jobs/{name}",
            "SageMaker Processing Logs": f"/sm-processing/jobs/{name}/log",
        }
        page = http.get(links["extra_links"]["SageMaker Processing Job"])
        assert page.status_code == 200 and "hello from the DAG job" in page.text
        assert "hello from the DAG job" in http.get(links["extra_links"]["SageMaker Processing Logs"]).text


def test_task_instance_view_shows_the_tasks_job(server: dict) -> None:
    run_id, name = dag_job(server)
    with client(server, "viewer") as http:
        plugins = http.get("/api/v2/plugins").json()["plugins"]
        [plugin] = [p for p in plugins if p["name"] == "sagemaker_processing_ui"]
        [view] = [v for v in plugin["external_views"] if v["destination"] == "task_instance"]
        # what the UI does with the href: placeholders replaced (MAP_INDEX stays for a task that is not mapped)
        href = view["href"].replace("{DAG_ID}", "ui_test_dag").replace("{TASK_ID}", "proc")
        answer = http.get(href.replace("{RUN_ID}", quote(run_id, safe="")))
        assert answer.status_code == 303 and answer.headers["location"] == f"/sm-processing/jobs/{name}"
        other = http.get(f"/sm-processing/task/ui_test_dag/{run_id}/after", params={"map_index": "-1"})
        assert other.status_code == 200 and "recorded no processing job" in other.text
    with client(server) as http:
        assert http.get(f"/sm-processing/task/ui_test_dag/{run_id}/proc").status_code == 401
