"""Which processing job a task instance's try runs: its name, and reattaching to an earlier try's job.

Retries: the job name is derived from (base, namespace, DAG, task, run and its start, map index, try).
A try first describes the jobs of this and earlier tries: an ``InProgress`` one is reattached (its
worker died; starting a second job would duplicate the work); a ``Completed`` one is returned only
with ``reuse_completed_job=True``; a ``Failed``, ``Stopped`` or ``Stopping`` one gets a new job under
this try's name (a ``Stopping`` job is being stopped on purpose: waiting on it could only fail).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sagemaker_processing_provider.backends.base import ProcessingBackend
from sagemaker_processing_provider.backends.watch import describe
from sagemaker_processing_provider.errors import ProcessingError
from sagemaker_processing_provider.request.names import job_name_for

Names = Callable[[int], str]


def job_names(context: Any, base: str, namespace: str) -> Names:
    """``try number -> job name`` for the task instance of ``context``."""
    ti, dag_run = context["ti"], context.get("dag_run")
    started = getattr(dag_run, "start_date", None) or getattr(dag_run, "run_after", None)
    identity = {
        "base": base,
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "run_id": ti.run_id,
        "map_index": -1 if ti.map_index is None else int(ti.map_index),
        "namespace": namespace,
        "run_start": started.isoformat() if started else "",
    }
    return lambda try_number: job_name_for(**identity, try_number=try_number)


def earlier_job(
    backend: ProcessingBackend, names: Names, try_number: int, reuse_completed: bool, log: logging.Logger
) -> tuple[str, dict] | None:
    """The job this try should wait for instead of creating one, or ``None`` to create one."""
    for number in range(try_number, 0, -1):
        name = names(number)
        found = describe(backend, name, log)
        if found is None:
            continue
        status = found["ProcessingJobStatus"]
        if status == "InProgress":
            log.warning(
                "REATTACHING to processing job %s (started by try %d, still running) instead of "
                "starting a duplicate",
                name,
                number,
            )
            return name, found
        if status == "Completed" and reuse_completed:
            log.info("Reusing completed job %s of try %d (reuse_completed_job=True)", name, number)
            return name, found
        if number == try_number:
            raise ProcessingError(
                f"Processing job {name} of this very try already exists and is {status}; "
                "was this run id reused? Clear the task to run it again under a new try."
            )
        log.info("Job %s of try %d is %s: starting a new job", name, number, status)
    return None


def running_job(backend: ProcessingBackend, names: Names, try_number: int, log: logging.Logger) -> str | None:
    """The ``InProgress`` job of this or an earlier try, if any (what a timeout must stop)."""
    for number in range(try_number, 0, -1):
        found = describe(backend, names(number), log)
        if found is not None and found["ProcessingJobStatus"] == "InProgress":
            return names(number)
    return None
