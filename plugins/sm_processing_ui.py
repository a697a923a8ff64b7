"""Airflow UI plugin: the SageMaker Processing jobs of the local job store, inside the Airflow UI.

Registered from Airflow's plugins folder (this repo's ``plugins/``, as ``make airflow`` and the
compose stack mount it); the code lives in ``sagemaker_processing_provider.ui``. It adds:

- a FastAPI app under ``/sm-processing`` (job list, job pages with status, timeline, request, log,
  outputs and a Stop button), behind Airflow's own authentication;
- a nav entry ("SageMaker Processing", under Browse) showing the job list;
- a tab on the task-instance page showing that task's processing job.

The operator's extra links point at the job pages on the local backend (``ui/paths.py``).

Every Airflow process loads the plugins folder (a task does, for macros), so the FastAPI app and
Airflow's API security are imported only when the API server asks for ``fastapi_apps``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from airflow.plugins_manager import AirflowPlugin
from sagemaker_processing_provider.ui.paths import URL_PREFIX, plugin_path


@cache
def _fastapi_apps() -> list[dict[str, Any]]:
    from sagemaker_processing_provider.ui.routes import create_app

    return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "SageMaker Processing jobs"}]


class SageMakerProcessingUIPlugin(AirflowPlugin):
    """The job pages (FastAPI app), their nav entry and the task-instance tab."""

    name = "sagemaker_processing_ui"
    fastapi_apps = property(lambda self: _fastapi_apps())  # type: ignore[assignment]
    external_views = [
        {
            "name": "SageMaker Processing",
            "href": plugin_path("/jobs"),
            "destination": "nav",
            "category": "browse",
            "url_route": "sm-processing",
        },
        {
            "name": "Processing job",
            "href": plugin_path("/task/{DAG_ID}/{RUN_ID}/{TASK_ID}?map_index={MAP_INDEX}"),
            "destination": "task_instance",
            "url_route": "sm-processing-task",
        },
    ]
