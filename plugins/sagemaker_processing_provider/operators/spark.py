"""``PySparkProcessorOperator`` and ``SparkJarProcessorOperator``: the SDK's Spark processors as tasks.

Thin on purpose: their Spark parameters go to the Spark request builders (``smspark-submit`` options,
the ``code``/``py-files``/``jars``/``files``/``conf`` inputs); all Airflow behaviour is shared in
``SageMakerProcessingBaseOperator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sagemaker_processing_provider.operators.base import COMMON_FIELDS, SageMakerProcessingBaseOperator

SPARK_FIELDS = ("submit_app", "submit_jars", "submit_files", "configuration", "spark_event_logs_s3_uri")


class _SparkProcessorOperator(SageMakerProcessingBaseOperator):
    """Parameters both Spark processors share (as the SDK's ``_SparkProcessorBase``)."""

    default_base_job_name = "sagemaker-spark-processing"

    def __init__(
        self,
        *,
        submit_app: str,
        submit_jars: list[str] | None = None,
        submit_files: list[str] | None = None,
        configuration: list[dict] | dict | None = None,
        spark_event_logs_s3_uri: str | None = None,
        py_version: str | None = None,
        container_version: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.py_version = py_version
        self.container_version = container_version
        self.submit_app = submit_app
        self.submit_jars = submit_jars
        self.submit_files = submit_files
        self.configuration = configuration
        self.spark_event_logs_s3_uri = spark_event_logs_s3_uri

    def _local_files(self) -> dict[str, Any]:
        return {
            "submit_app": self.submit_app,
            "submit_jars": self.submit_jars,
            "submit_files": self.submit_files,
        }

    def _spark_args(self) -> dict[str, Any]:
        return {
            "submit_app": self.submit_app,
            "submit_jars": self.submit_jars,
            "submit_files": self.submit_files,
            "configuration": self.configuration,
            "spark_event_logs_s3_uri": self.spark_event_logs_s3_uri,
            "py_version": self.py_version,
            "container_version": self.container_version,
        }


class PySparkProcessorOperator(_SparkProcessorOperator):
    """Run a PySpark application with ``smspark-submit`` (the SDK's ``PySparkProcessor.run``).

    :param submit_app: the main ``.py`` file (local or ``s3://``).
    :param submit_py_files: ``.py``/``.zip``/``.egg`` files or folders for ``--py-files``.
    :param submit_jars: jars or folders for ``--jars``.
    :param submit_files: files or folders for ``--files``.
    :param configuration: EMR-style classifications (``spark-defaults``, ``spark-env``, ...).
    :param spark_event_logs_s3_uri: where Spark event logs go (a ``Continuous`` output).
    :param py_version: with ``container_version``, picks the Spark image as the SDK does.
    """

    template_fields: Sequence[str] = (*COMMON_FIELDS, *SPARK_FIELDS, "submit_py_files")

    def __init__(
        self,
        *,
        submit_py_files: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.submit_py_files = submit_py_files

    def _local_files(self) -> dict[str, Any]:
        return {**super()._local_files(), "submit_py_files": self.submit_py_files}

    def _build_request(self, common: dict[str, Any]) -> dict:
        from sagemaker_processing_provider.request.spark import build_pyspark_request

        return build_pyspark_request(**common, **self._spark_args(), submit_py_files=self.submit_py_files)


class SparkJarProcessorOperator(_SparkProcessorOperator):
    """Run a Spark (Scala/Java) jar with ``smspark-submit`` (the SDK's ``SparkJarProcessor.run``).

    :param submit_app: the application jar (local or ``s3://``).
    :param submit_class: its main class (``--class``).

    Other Spark parameters as ``PySparkProcessorOperator``.
    """

    template_fields: Sequence[str] = (*COMMON_FIELDS, *SPARK_FIELDS, "submit_class")

    def __init__(self, *, submit_class: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.submit_class = submit_class

    def _build_request(self, common: dict[str, Any]) -> dict:
        from sagemaker_processing_provider.request.spark import build_spark_jar_request

        return build_spark_jar_request(**common, **self._spark_args(), submit_class=self.submit_class)
