"""Airflow provider for Amazon SageMaker Processing, with a Docker-free local backend."""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""
    pkg = "sagemaker_processing_provider"
    return {
        "package-name": "airflow-provider-sagemaker-processing",
        "name": "SageMaker Processing",
        "description": "Operators for SageMaker Processing jobs (scikit-learn, PySpark, Spark Scala), "
        "running on AWS or on a local, Docker-free backend.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "SageMaker Processing",
                "external-doc-url": "https://docs.aws.amazon.com/sagemaker/latest/dg/processing-job.html",
                "tags": ["aws"],
            }
        ],
        "operators": [
            {
                "integration-name": "SageMaker Processing",
                "python-modules": [f"{pkg}.operators.sklearn", f"{pkg}.operators.spark"],
            }
        ],
        "hooks": [
            {"integration-name": "SageMaker Processing", "python-modules": [f"{pkg}.hooks.processing"]}
        ],
        "triggers": [
            {"integration-name": "SageMaker Processing", "python-modules": [f"{pkg}.triggers.processing"]}
        ],
        "extra-links": [
            f"{pkg}.links.processing.ProcessingJobLink",
            f"{pkg}.links.processing.ProcessingLogsLink",
        ],
    }
