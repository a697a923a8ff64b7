"""Airflow DAG: the Abalone pipeline on Spark Scala processing jobs, one jar with three main classes.

The jar is built, never committed (``make jar``, i.e. ``scala_jobs/build.sh``): this DAG parses without
it, and a task fails at run time, without retrying, saying how to build it. Shape, Params and data
locations: ``abalone/pipeline.py``.
"""

from __future__ import annotations

from abalone.pipeline import JAR_FILE, Step, pipeline_dag, require_local_file
from sagemaker_processing_provider.operators.spark import SparkJarProcessorOperator

MAIN_CLASSES = {"feature_engineering": "FeatureEngineering", "split": "Split", "validate": "Validate"}
BUILD_HINT = "Build the Scala jobs first: `make jar` (runs scala_jobs/build.sh, offline, about a minute)."


def scala_task(step: Step, common: dict) -> SparkJarProcessorOperator:
    return SparkJarProcessorOperator(
        submit_app=str(JAR_FILE),
        submit_class=f"abalone.{MAIN_CLASSES[step.job]}",
        framework_version="3.5",
        pre_execute=require_local_file("submit_app", BUILD_HINT),
        **common,
    )


dag = pipeline_dag("abalone_scala_pipeline", engine="scala", make_task=scala_task, spark=True)
