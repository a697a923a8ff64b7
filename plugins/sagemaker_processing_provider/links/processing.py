"""Extra links of the processing operators: the job and its logs, on AWS or in the local job store.

The operator computes the URLs once (``ProcessingHook.console_urls``: it knows the backend, region
and partition) and stores them in XCom; the links only read them back, so the web server never
needs AWS credentials or the job store. On AWS they are the SageMaker console and CloudWatch; on the
local backend, the UI plugin's job page and log (same-origin paths, ``ui/paths.py``). The job's name
is stored too (``JOB_NAME_KEY``), so the plugin's task-instance view finds the task's job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey


class _StoredUrlLink(BaseOperatorLink):
    """A link whose URL the operator pushed to XCom under ``key``."""

    name: ClassVar[str]
    key: ClassVar[str]

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        try:
            value = XCom.get_value(key=self.key, ti_key=ti_key)
        except Exception:  # a link must never break the UI
            return ""
        return value if isinstance(value, str) else ""

    @classmethod
    def persist(cls, context: Context, operator: BaseOperator, url: str) -> None:
        """Store the URL for the UI (skipped, like upstream links, when the task pushes no XCom)."""
        if operator.do_xcom_push:
            context["ti"].xcom_push(key=cls.key, value=url)


JOB_NAME_KEY = "sagemaker_processing_job_name"


def persist_job_name(context: Context, operator: BaseOperator, job_name: str) -> None:
    """The task's job name, for the UI plugin's task-instance view (skipped without XCom pushes)."""
    if operator.do_xcom_push:
        context["ti"].xcom_push(key=JOB_NAME_KEY, value=job_name)


class ProcessingJobLink(_StoredUrlLink):
    """The job in the SageMaker console (AWS) or its page in the UI plugin (local)."""

    name = "SageMaker Processing Job"
    key = "sagemaker_processing_job_url"


class ProcessingLogsLink(_StoredUrlLink):
    """The job's CloudWatch log streams (AWS) or its whole log in the UI plugin (local)."""

    name = "SageMaker Processing Logs"
    key = "sagemaker_processing_logs_url"
