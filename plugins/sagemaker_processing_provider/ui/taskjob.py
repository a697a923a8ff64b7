"""Which processing job a task instance ran: read back from the XComs the operator stored.

The operator pushes the job's name (``JOB_NAME_KEY``) and its links right after it created or
reattached the job, before waiting, so a running task already has them. Its return value
(``job_name``) covers a task of an older version of the operator. Read in the API server, with its
database session, like Airflow's own extra-links route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sagemaker_processing_provider.links.processing import JOB_NAME_KEY, ProcessingJobLink

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class TaskJob:
    """The task's job name and the job link it stored (None when the task recorded no job)."""

    job_name: str | None
    job_url: str | None


def task_job(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int) -> TaskJob:
    """The job of one task instance (its latest try: each try overwrites its XComs)."""
    values = _xcoms(session, dag_id, run_id, task_id, map_index)
    name = values.get(JOB_NAME_KEY)
    if not isinstance(name, str):
        returned = values.get("return_value")
        name = returned.get("job_name") if isinstance(returned, dict) else None
    url = values.get(ProcessingJobLink.key)
    return TaskJob(
        job_name=name if isinstance(name, str) else None, job_url=url if isinstance(url, str) else None
    )


def _xcoms(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    keys = (JOB_NAME_KEY, ProcessingJobLink.key, "return_value")
    query = select(XComModel).where(
        XComModel.dag_id == dag_id,
        XComModel.run_id == run_id,
        XComModel.task_id == task_id,
        XComModel.map_index == map_index,
        XComModel.key.in_(keys),
    )
    return {row.key: XComModel.deserialize_value(row) for row in session.scalars(query)}
