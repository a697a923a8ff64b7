"""Airflow DAG: the Abalone pipeline on PySpark processing jobs (shape, Params and data locations: ``abalone/pipeline.py``)."""

from __future__ import annotations

from abalone.pipeline import SCRIPTS_DIR, Step, pipeline_dag
from sagemaker_processing_provider.operators.spark import PySparkProcessorOperator

# The code the three jobs share: a module each job imports, shipped with ``--py-files``.
COMMON_MODULE = SCRIPTS_DIR / "pyspark" / "abalone_jobs_common.py"


def pyspark_task(step: Step, common: dict) -> PySparkProcessorOperator:
    return PySparkProcessorOperator(
        submit_app=str(SCRIPTS_DIR / "pyspark" / f"{step.job}.py"),
        submit_py_files=[str(COMMON_MODULE)],
        framework_version="3.5",
        **common,
    )


dag = pipeline_dag("abalone_pyspark_pipeline", engine="pyspark", make_task=pyspark_task, spark=True)
