"""The plugin's FastAPI app: the job list, a job's page, its log, Stop, and a task instance's job.

Mounted by Airflow's API server under ``paths.URL_PREFIX``. Authentication and authorization are
Airflow's own (``airflow.api_fastapi.core_api.security``): every route depends on
``requires_access_dag`` like Airflow's task-instance routes, so the configured auth manager decides
(its JWT from the ``Authorization`` header or the UI's ``_token`` cookie, which the iframe sends).
Reading needs GET on task instances, Stop needs PUT (as marking a task instance does); the pages by
job name are not scoped to one DAG (any job of the store), so the auth manager is asked for all
DAGs. A browser without a session is sent to the login page; other clients get Airflow's 401/403.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from sagemaker_processing_provider.api import client_errors
from sagemaker_processing_provider.local.backend import LocalProcessingBackend
from sagemaker_processing_provider.ui import jobs, render
from sagemaker_processing_provider.ui.paths import job_path, plugin_path
from sagemaker_processing_provider.ui.taskjob import task_job

CAN_READ = Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))
CAN_STOP = Depends(requires_access_dag("PUT", DagAccessEntity.TASK_INSTANCE))


def local_backend() -> LocalProcessingBackend:
    """The store of ``SM_PROCESSING_HOME`` (read per request: cheap, and what the tasks use)."""
    return LocalProcessingBackend()


Backend = Annotated[LocalProcessingBackend, Depends(local_backend)]


def create_app() -> FastAPI:
    """The sub-application (no OpenAPI pages: it serves HTML for people)."""
    app = FastAPI(title="SageMaker Processing jobs", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(client_errors.SageMakerClientError, _client_error)

    @app.get("/", dependencies=[CAN_READ])
    def index() -> RedirectResponse:
        return RedirectResponse(plugin_path("/jobs"), status_code=303)

    @app.get("/jobs", response_class=HTMLResponse, dependencies=[CAN_READ])
    def job_list(
        backend: Backend,
        status: Annotated[str | None, Query()] = None,
        name: Annotated[str | None, Query(max_length=63)] = None,
        next_token: Annotated[str | None, Query(alias="next", max_length=200)] = None,
    ) -> HTMLResponse:
        if status and status not in jobs.STATUSES:
            raise HTTPException(400, f"status: expected one of {', '.join(jobs.STATUSES)}, got {status!r}")
        summaries, token = jobs.list_jobs(
            backend, status=status or None, name_contains=name or None, token=next_token
        )
        html = render.job_list(
            summaries, status=status, name_contains=name, next_token=token, home=str(backend.home)
        )
        return HTMLResponse(html)

    @app.get("/jobs/{name}", response_class=HTMLResponse, dependencies=[CAN_READ])
    def job(backend: Backend, name: str, stopped: bool = False) -> HTMLResponse:
        page = jobs.job_page(backend, name)
        note = f"Stop requested: {name} is {page.status}." if stopped else None
        return HTMLResponse(render.job_detail(page, note=note))

    @app.get("/jobs/{name}/log", response_class=PlainTextResponse, dependencies=[CAN_READ])
    def job_log(backend: Backend, name: str) -> PlainTextResponse:
        return PlainTextResponse("\n".join(jobs.full_log(backend, name)) + "\n")

    @app.post("/jobs/{name}/stop", dependencies=[CAN_STOP])
    def stop(request: Request, backend: Backend, name: str) -> Response:
        _same_origin(request)
        page = jobs.job_page(backend, name)  # a bad name 400, an unknown job 404
        if page.status not in jobs.TERMINAL:
            try:
                jobs.stop(backend, name)
                return RedirectResponse(f"{job_path(name)}?stopped=true", status_code=303)
            except client_errors.ValidationException:
                page = jobs.job_page(backend, name)  # it ended meanwhile: refused below
                if page.status not in jobs.TERMINAL:
                    raise
        refusal = f"Not stopped: {name} already ended ({page.status}); only a running job can be stopped."
        return HTMLResponse(render.job_detail(page, error=refusal), status_code=409)

    @app.get("/task/{dag_id}/{run_id}/{task_id}", dependencies=[CAN_READ])
    def task_instance(
        session: SessionDep, backend: Backend, dag_id: str, run_id: str, task_id: str, map_index: str = "-1"
    ) -> Response:
        index = int(map_index) if map_index.lstrip("-").isdigit() else -1  # "{MAP_INDEX}": not mapped
        found = task_job(session, dag_id, run_id, task_id, index)
        if found.job_name and backend.store.exists(found.job_name):
            return RedirectResponse(job_path(found.job_name), status_code=303)
        html = render.task_without_job(
            dag_id, run_id, task_id, found.job_name, found.job_url, str(backend.home)
        )
        return HTMLResponse(html)

    return app


def _same_origin(request: Request) -> None:
    """Stop changes state: a browser's cross-site form post is refused (the cookie is SameSite=Lax
    too). Clients that send no Origin (curl with a token) are not browsers posting forms."""
    origin = request.headers.get("origin")
    if origin and urlparse(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, f"Stop refused: the request comes from {origin}, not from this site")


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """401 on a page a browser opened: the auth manager's login, then back; the rest as HTML."""
    if (
        exc.status_code == 401
        and request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
    ):
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
    title = {401: "Not logged in", 403: "Not allowed"}.get(exc.status_code, "Cannot show this page")
    return HTMLResponse(
        render.error(exc.status_code, title, str(exc.detail)),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _client_error(request: Request, exc: client_errors.SageMakerClientError) -> Response:
    """The backend's AWS-shaped errors: an unknown job 404, a bad name 400, an unreadable job 500."""
    status = 404 if isinstance(exc, client_errors.JobNotFound) else exc.http_status
    title = {404: "No such job", 400: "Bad request"}.get(status, "The job store cannot answer")
    return HTMLResponse(render.error(status, title, exc.response["Error"]["Message"]), status_code=status)
