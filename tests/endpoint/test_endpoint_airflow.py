"""Airflow on ``sm-processing serve``: the Amazon provider's operator and ours on the AWS code path.

The connection is a plain AWS connection whose extra ``service_config`` points ``sagemaker`` and
``logs`` at the endpoint and ``s3`` at moto (no global endpoint in the environment), so upload,
create, wait, CloudWatch tailing and stop all run through the AWS clients, against real local jobs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from endpoint_support import (
    JOB_SCRIPT,
    ROLE,
    SKLEARN_IMAGE,
    Endpoint,
    job_request,
    s3_objects,
    seed_bucket,
    unique,
    wait_for,
)

DAG_FILE = """
from airflow.providers.amazon.aws.operators.sagemaker import SageMakerProcessingOperator
from airflow.sdk import DAG

from sagemaker_processing_provider.operators.sklearn import SKLearnProcessorOperator

OURS = dict(
    image_uri={image!r},  # given, as ScriptProcessor users do: spares the SDK's image_uris import here
    instance_type="ml.m5.xlarge",
    instance_count=2,
    role={role!r},
    code={code!r},
    arguments=["ok"],
    inputs=[{{"source": "s3://{bucket}/data/", "destination": "/opt/ml/processing/input/data"}}],
    code_location="s3://{bucket}/code-ours",
    check_interval=0.5,
)

with DAG("endpoint_clients", schedule=None, tags=["test"]):
    SageMakerProcessingOperator(task_id="amazon_operator", config={config!r}, check_interval=1)
    for deferrable in (False, True):
        SKLearnProcessorOperator(
            task_id="ours_deferrable" if deferrable else "ours",
            base_job_name="{prefix}-" + ("deferrable" if deferrable else "sync"),
            outputs=[{{
                "output_name": "result",
                "source": "/opt/ml/processing/output/result",
                "destination": "s3://{bucket}/ours-" + ("deferrable" if deferrable else "sync") + "/",
            }}],
            deferrable=deferrable,
            **OURS,
        )
"""


def connection(endpoint: Endpoint, s3_endpoint: str) -> str:
    """``AIRFLOW_CONN_AWS_DEFAULT``: SageMaker and Logs on the endpoint, S3 on moto, our AWS backend."""
    services = {"sagemaker": endpoint.url, "logs": endpoint.url, "s3": s3_endpoint}
    extra = {
        "processing_backend": "aws",
        "region_name": "us-east-1",
        "service_config": {name: {"endpoint_url": url} for name, url in services.items()},
    }
    return json.dumps({"conn_type": "aws", "extra": extra})


@pytest.mark.slow  # `airflow dags test` (on a copy of the session's migrated database)
def test_amazon_operator_and_ours_run_to_completed_under_airflow_dags_test(
    aws: Endpoint, aws_subprocess_env: dict[str, str], bucket: str, tmp_path: Path, with_migrated_db
) -> None:
    seed_bucket(bucket)
    airflow_home, dags = tmp_path / "airflow", tmp_path / "dags"
    dags.mkdir()
    (tmp_path / "count_rows.py").write_text(JOB_SCRIPT)
    amazon_job, prefix = unique("amazon"), unique("ours")
    config = job_request(amazon_job, bucket)
    config["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] = f"s3://{bucket}/amazon-out"
    (dags / "endpoint_clients.py").write_text(
        DAG_FILE.format(
            role=ROLE,
            image=SKLEARN_IMAGE,
            code=str(tmp_path / "count_rows.py"),
            bucket=bucket,
            config=config,
            prefix=prefix,
        )
    )
    env = {k: v for k, v in aws_subprocess_env.items() if k != "AWS_ENDPOINT_URL"}
    env.update(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_AWS_DEFAULT=connection(aws, aws_subprocess_env["AWS_ENDPOINT_URL"]),
    )
    airflow = str(Path(sys.executable).parent / "airflow")
    with_migrated_db(airflow_home)
    run = subprocess.run(
        [airflow, "dags", "test", "endpoint_clients"], env=env, capture_output=True, text=True, timeout=600
    )
    output = run.stdout + run.stderr

    assert run.returncode == 0, output[-4000:]
    sm = aws.client("sagemaker")
    assert sm.describe_processing_job(ProcessingJobName=amazon_job)["ProcessingJobStatus"] == "Completed"
    assert json.loads(s3_objects(bucket, "amazon-out/")["amazon-out/algo-1.json"]) == {
        "rows": 5,
        "host": "algo-1",
    }
    ours = sm.list_processing_jobs(NameContains=prefix)["ProcessingJobSummaries"]
    assert len(ours) == 2 and {s["ProcessingJobStatus"] for s in ours} == {"Completed"}
    for mode in ("sync", "deferrable"):
        written = s3_objects(bucket, f"ours-{mode}/")
        assert sorted(written) == [f"ours-{mode}/algo-1.json", f"ours-{mode}/algo-2.json"]
    assert s3_objects(bucket, "code-ours/")  # our operator uploaded its code to S3 (moto)
    # CloudWatch tailing through the endpoint: each host's stream, in the task log (sync) and trigger log
    for host in ("algo-1", "algo-2"):
        assert output.count(f"] {host} done, rows 5") == 2, output[-4000:]
    assert "Deferring: the triggerer waits for" in output


def test_on_kill_stops_the_job_through_the_endpoint(
    aws: Endpoint,
    moto_server: str,
    bucket: str,
    release: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sagemaker_processing_provider.errors import ProcessingJobFailed
    from sagemaker_processing_provider.operators.sklearn import SKLearnProcessorOperator

    seed_bucket(bucket)
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # only the connection's service_config routes
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection(aws, moto_server))
    script = tmp_path / "job.py"
    script.write_text(JOB_SCRIPT)
    base = unique("kill")
    operator = SKLearnProcessorOperator(
        task_id="process",
        base_job_name=base,
        image_uri=SKLEARN_IMAGE,  # given: no SDK import (image_uris) to wait for
        instance_type="ml.m5.xlarge",
        role=ROLE,
        code=str(script),
        arguments=["wait"],
        env={"RELEASE_FILE": str(release)},
        outputs=[{"output_name": "result", "source": "/opt/ml/processing/output/result"}],
        code_location=f"s3://{bucket}/code",
        check_interval=0.2,
    )
    outcome: dict[str, BaseException] = {}
    task_instance = SimpleNamespace(  # what the operator reads from context["ti"]
        dag_id="endpoint_kill", task_id="process", run_id="manual__1", map_index=-1, try_number=1
    )
    task_instance.xcom_push = lambda key, value: None

    def execute() -> None:
        try:
            operator.execute({"ti": task_instance})
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    worker = threading.Thread(target=execute)
    worker.start()
    sm = aws.client("sagemaker")
    names: list[str] = []
    while not names and worker.is_alive():  # the job exists once execute has created it
        listed = sm.list_processing_jobs(NameContains=base)["ProcessingJobSummaries"]
        names = [s["ProcessingJobName"] for s in listed]
    assert names, outcome
    wait_for(sm, names[0], ("InProgress",))
    operator.on_kill()
    worker.join(120)

    assert not worker.is_alive()
    assert isinstance(outcome.get("error"), ProcessingJobFailed) and outcome["error"].status == "Stopped"
    assert sm.describe_processing_job(ProcessingJobName=names[0])["ProcessingJobStatus"] == "Stopped"
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)  # for this test's own look into S3
    assert s3_objects(bucket, "code/")  # the operator uploaded its code through the connection's s3
    assert s3_objects(bucket, f"{names[0]}/") == {}  # a stopped job publishes nothing
