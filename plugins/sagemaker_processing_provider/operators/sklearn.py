"""``SKLearnProcessorOperator``: the SDK's ``SKLearnProcessor.run`` as an Airflow task.

Thin on purpose: its parameters are declared in ``request/params.py`` (``SKLearnSpec``) and go to the
scikit-learn request builder; naming, retries, waiting, logs, kill and links come from
``SageMakerProcessingBaseOperator``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sagemaker_processing_provider.operators.base import SageMakerProcessingBaseOperator
from sagemaker_processing_provider.request.params import SKLearnSpec

if TYPE_CHECKING:
    from sagemaker_processing_provider.request.params import SKLearnParams


class SKLearnProcessorOperator(SageMakerProcessingBaseOperator):
    """Run a scikit-learn processing script (``framework_version`` picks the SDK's image)."""

    job_params = SKLearnSpec
    default_base_job_name = "sagemaker-scikit-learn"

    def local_files(self) -> dict[str, Any]:
        if self.source_dir:  # the script is then named relative to it (checked by the builder)
            return {"source_dir": self.source_dir}
        return {"code": self.code, "requirements": self.requirements}

    def build_request(self, params: SKLearnParams, target: Any) -> dict:
        from sagemaker_processing_provider.request.sklearn import build_sklearn_request

        return build_sklearn_request(params, target)
