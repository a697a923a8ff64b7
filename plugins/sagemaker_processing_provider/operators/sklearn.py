"""``SKLearnProcessorOperator``: the SDK's ``SKLearnProcessor.run`` as an Airflow task.

Thin on purpose: its parameters are declared in ``request/params.py`` (``SKLearnParams``) and go to the
scikit-learn request builder; naming, retries, waiting, logs, kill and links come from
``SageMakerProcessingBaseOperator``.
"""

from __future__ import annotations

from typing import Any

from sagemaker_processing_provider.operators.base import SageMakerProcessingBaseOperator
from sagemaker_processing_provider.request.params import SKLearnParams


class SKLearnProcessorOperator(SageMakerProcessingBaseOperator):
    """Run a scikit-learn processing script (``framework_version`` picks the SDK's image)."""

    job_params = SKLearnParams
    default_base_job_name = "sagemaker-scikit-learn"

    def local_files(self) -> dict[str, Any]:
        return {"code": self.code}

    def build_request(self, params: SKLearnParams, target: Any) -> dict:
        from sagemaker_processing_provider.request.sklearn import build_sklearn_request

        return build_sklearn_request(params, target)
