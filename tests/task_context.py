"""A task-instance stand-in for calling operators' ``execute`` directly in tests.

``context()`` gives the minimal context the operators read (``ti`` with dag_id, task_id, run_id,
map_index, try_number and ``xcom_push`` for the links). The scheduler/worker machinery around it is
not exercised here (the DAG tests run ``airflow dags test``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskInstanceStub:
    dag_id: str = "ops_test_dag"
    task_id: str = "process"
    run_id: str = "manual__2026-01-01T00:00:00+00:00"
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def context(try_number: int = 1, **ti: Any) -> dict[str, Any]:
    return {"ti": TaskInstanceStub(try_number=try_number, **ti)}
