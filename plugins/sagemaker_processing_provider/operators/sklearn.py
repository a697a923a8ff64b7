"""``SKLearnProcessorOperator``: the SDK's ``SKLearnProcessor.run`` as an Airflow task.

Thin on purpose: its own parameters (``code``, ``command``) go to the scikit-learn request builder;
naming, retries, waiting, logs, kill and links come from ``SageMakerProcessingBaseOperator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sagemaker_processing_provider.operators.base import COMMON_FIELDS, SageMakerProcessingBaseOperator


class SKLearnProcessorOperator(SageMakerProcessingBaseOperator):
    """Run a scikit-learn processing script (``framework_version`` picks the SDK's image).

    :param code: the script: a local file (uploaded to S3 on AWS, used in place locally) or ``s3://`` URI.
    :param command: the interpreter command (default ``["python3"]``, as the SDK).

    See ``SageMakerProcessingBaseOperator`` for the shared parameters.
    """

    default_base_job_name = "sagemaker-scikit-learn"
    template_fields: Sequence[str] = (*COMMON_FIELDS, "code", "command")

    def __init__(self, *, code: str, command: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.code = code
        self.command = command

    def _local_files(self) -> dict[str, Any]:
        return {"code": self.code}

    def _build_request(self, common: dict[str, Any]) -> dict:
        from sagemaker_processing_provider.request.sklearn import build_sklearn_request

        return build_sklearn_request(**common, code=self.code, command=self.command)
