"""Processing job names derived from the Airflow task instance.

A name must be unique per account and region, at most 63 characters and match
``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``. We derive it from the task's identity instead of a timestamp
(the SDK's way) so that a retry can compute the name of the try before it and reattach to that job
rather than start a duplicate: ``<base, trimmed>-<12 hex of the identity>-t<try>``.

The identity covers the deployment's **namespace** (jobs cannot be deleted on AWS: two Airflow
deployments in one account must never derive one name) and the DAG run's **start** (a DAG run deleted
and created again with the same run id, or cleared, is another run: its jobs get other names).
"""

from __future__ import annotations

import hashlib
import json
import re

from sagemaker_processing_provider.errors import RequestError

MAX_JOB_NAME_LENGTH = 63
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
HASH_LENGTH = 12
_INVALID_CHARS = re.compile(r"[^a-zA-Z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def sanitize_name_part(text: str) -> str:
    """Replace characters SageMaker refuses (``_``, ``.``, unicode, ...) by ``-`` and collapse dashes."""
    return _DASHES.sub("-", _INVALID_CHARS.sub("-", text)).strip("-")


def identity_hash(
    *,
    base: str,
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int,
    namespace: str = "",
    run_start: str = "",
) -> str:
    """A short, stable hash of everything that identifies one task instance (the try excluded)."""
    identity = json.dumps(
        [base, dag_id, task_id, run_id, map_index, namespace, run_start], ensure_ascii=False
    )
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def job_name_for(
    *,
    base: str,
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int,
    try_number: int,
    namespace: str = "",
    run_start: str = "",
) -> str:
    """The job name of one try of one task instance; deterministic and always valid.

    The hash covers ``(base, dag_id, task_id, run_id, map_index, namespace, run_start)``; the try
    number stays readable at the end, so ``job_name_for(..., try_number=n - 1)`` is the previous try's job.
    """
    if not isinstance(try_number, int) or isinstance(try_number, bool) or try_number < 0:
        raise RequestError("try_number", f"expected an integer >= 0, got {try_number!r}")
    if not isinstance(map_index, int) or isinstance(map_index, bool) or map_index < -1:
        raise RequestError("map_index", f"expected an integer >= -1, got {map_index!r}")
    digest = identity_hash(
        base=base,
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        map_index=map_index,
        namespace=namespace,
        run_start=run_start,
    )
    suffix = f"-{digest}-t{try_number}"
    clean = sanitize_name_part(base or "") or sanitize_name_part(f"{dag_id}-{task_id}") or "job"
    clean = clean[: MAX_JOB_NAME_LENGTH - len(suffix)].rstrip("-")
    name = f"{clean}{suffix}"
    validate_job_name(name)
    return name


def validate_job_name(name: str) -> str:
    """Check a name against SageMaker's rule; returns it unchanged, or raises ``RequestError``."""
    if not isinstance(name, str) or not name:
        raise RequestError("job_name", f"expected a non-empty string, got {name!r}")
    if len(name) > MAX_JOB_NAME_LENGTH:
        raise RequestError("job_name", f"{name!r} has {len(name)} characters; at most {MAX_JOB_NAME_LENGTH}")
    if not JOB_NAME_PATTERN.match(name):
        raise RequestError(
            "job_name",
            f"{name!r} must contain only letters, digits and single or repeated dashes between them "
            "(pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})",
        )
    return name
