"""Example DAG: a job that needs libraries the scikit-learn image does not have, with step caching.

``source_dir`` uploads ``processing_scripts/examples/profile/`` (the job and a helper module); its
``requirements.txt`` (``humanize``, ``tabulate``) is installed before the job runs, as the SageMaker
SDK's ``FrameworkProcessor`` does. Locally the install happens once per requirements content, into a
cached environment layered over the project's (``tabulate`` is already there: only ``humanize`` is
installed). ``cache_config``: a later run with the same data and code reuses the earlier job's
profile (XCom ``cache_hit: true``) instead of running it again; change the data or the code and it
runs. Trigger it twice from the UI, or ``airflow dags test example_requirements`` twice.

Params: ``input_uri`` (a CSV file or folder; default: the shipped ``data/abalone.csv``) and
``output_uri`` (default: ``$SM_PROCESSING_HOME/examples/profile``); on AWS give ``s3://`` URIs and
the Variable ``sagemaker_processing_role_arn``. Parsing imports nothing heavy.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk import DAG, Param
from sagemaker_processing_provider.operators.sklearn import SKLearnProcessorOperator

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIR = REPO_ROOT / "processing_scripts" / "examples" / "profile"
HOME = Path(os.environ.get("SM_PROCESSING_HOME") or "~/.sm-processing").expanduser()

with DAG(
    dag_id="example_requirements",
    schedule=None,
    catchup=False,
    tags=["example", "sagemaker-processing"],
    params={
        "input_uri": Param(
            str(REPO_ROOT / "data" / "abalone.csv"), type="string", title="CSV file or folder"
        ),
        "output_uri": Param(
            str(HOME / "examples" / "profile"), type="string", title="Where the profile goes"
        ),
    },
    doc_md=__doc__,
):
    SKLearnProcessorOperator(
        task_id="profile",
        source_dir=str(SOURCE_DIR),  # uploaded whole; requirements.txt in it is installed first
        code="profile.py",  # relative to source_dir
        framework_version="1.2-1",
        instance_type="ml.m5.xlarge",
        role="{{ var.value.get('sagemaker_processing_role_arn', '') }}",  # blank: the local backend's
        inputs=[{"source": "{{ params.input_uri }}", "destination": "/opt/ml/processing/input/data"}],
        outputs=[
            {
                "output_name": "profile",
                "source": "/opt/ml/processing/output/profile",
                "destination": "{{ params.output_uri }}",
            }
        ],
        cache_config={"enabled": True, "expire_after": "P30D"},
    )
