"""Extra links of the processing operators: the job and its logs, on AWS or in the local job store.

The operator computes the URLs once (``ProcessingHook.console_urls``: it knows the backend, region
and partition) and stores them in XCom; the links only read them back, so the web server never
needs AWS credentials or the job store.
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


class ProcessingJobLink(_StoredUrlLink):
    """The job in the SageMaker console (AWS) or its folder in the job store (local)."""

    name = "SageMaker Processing Job"
    key = "sagemaker_processing_job_url"


class ProcessingLogsLink(_StoredUrlLink):
    """The job's CloudWatch log streams (AWS) or its ``output.log`` (local)."""

    name = "SageMaker Processing Logs"
    key = "sagemaker_processing_logs_url"
