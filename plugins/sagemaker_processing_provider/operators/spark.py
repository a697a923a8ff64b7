"""``PySparkProcessorOperator`` and ``SparkJarProcessorOperator``: the SDK's Spark processors as tasks.

Thin on purpose: their parameters are declared in ``request/params.py`` (``PySparkSpec``,
``SparkJarSpec``) and go to the Spark request builder (``smspark-submit`` options, the
``code``/``py-files``/``jars``/``files``/``conf`` inputs); all Airflow behaviour is shared in
``SageMakerProcessingBaseOperator``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sagemaker_processing_provider.operators.base import SageMakerProcessingBaseOperator
from sagemaker_processing_provider.request.params import PySparkSpec, SparkJarSpec

if TYPE_CHECKING:
    from sagemaker_processing_provider.request.params import SparkParams

DEPENDENCY_FIELDS = ("submit_app", "submit_py_files", "submit_jars", "submit_files")


class _SparkProcessorOperator(SageMakerProcessingBaseOperator):
    """What both Spark processors share: their files and their builder."""

    default_base_job_name = "sagemaker-spark-processing"

    def local_files(self) -> dict[str, Any]:
        files = {name: getattr(self, name) for name in DEPENDENCY_FIELDS if hasattr(self, name)}
        if getattr(self, "source_dir", None):  # the app is then named relative to it
            files["submit_app"] = None
            files["source_dir"] = self.source_dir
        return files

    def build_request(self, params: SparkParams, target: Any) -> dict:
        from sagemaker_processing_provider.request.spark import build_spark_request

        return build_spark_request(params, target)


class PySparkProcessorOperator(_SparkProcessorOperator):
    """Run a PySpark application with ``smspark-submit`` (the SDK's ``PySparkProcessor.run``)."""

    job_params = PySparkSpec


class SparkJarProcessorOperator(_SparkProcessorOperator):
    """Run a Spark (Scala/Java) jar with ``smspark-submit`` (the SDK's ``SparkJarProcessor.run``)."""

    job_params = SparkJarSpec
