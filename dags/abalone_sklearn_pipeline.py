"""Airflow DAG: the Abalone pipeline on scikit-learn processing jobs (shape, Params and data locations: ``abalone/pipeline.py``)."""

from __future__ import annotations

from abalone.pipeline import SCRIPTS_DIR, Step, pipeline_dag
from sagemaker_processing_provider.operators.sklearn import SKLearnProcessorOperator


def sklearn_task(step: Step, common: dict) -> SKLearnProcessorOperator:
    return SKLearnProcessorOperator(
        code=str(SCRIPTS_DIR / "sklearn" / f"{step.job}.py"),
        framework_version="1.2-1",
        **common,
    )


dag = pipeline_dag("abalone_sklearn_pipeline", engine="scikit-learn", make_task=sklearn_task)
