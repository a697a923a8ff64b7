"""``scripts/local_airflow.py`` without running Airflow: the environment it gives every command."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("local_airflow", REPO / "scripts" / "local_airflow.py")
local_airflow = importlib.util.module_from_spec(spec)
spec.loader.exec_module(local_airflow)


def test_environment_is_the_repos_own_and_local(tmp_path):
    env = local_airflow.airflow_env(tmp_path / "af", {"PATH": "/bin", "AIRFLOW_CONN_AWS_DEFAULT": "aws://x"})
    assert env["AIRFLOW_HOME"] == str(tmp_path / "af")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO / "dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(REPO / "plugins")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'af' / 'airflow.db'}"
    # the repo's commands always run jobs locally, whatever the caller's shell says
    assert json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])["extra"] == {"processing_backend": "local"}
    assert env["SM_PROCESSING_HOME"] == str(REPO / ".sm-processing")
    assert env["PATH"].split(os.pathsep) == [str(Path(sys.executable).parent), "/bin"]


def test_sm_processing_home_is_honoured(tmp_path):
    env = local_airflow.airflow_env(tmp_path / "af", {"SM_PROCESSING_HOME": str(tmp_path / "store")})
    assert env["SM_PROCESSING_HOME"] == str(tmp_path / "store")


@pytest.mark.parametrize(
    ("name", "dag_id"),
    [
        ("sklearn", "abalone_sklearn_pipeline"),
        ("scala", "abalone_scala_pipeline"),
        ("abalone_pyspark_pipeline",) * 2,
    ],
)
def test_dag_names(name, dag_id):
    assert local_airflow.resolve_dag_id(name) == dag_id


def test_display_and_report_result(tmp_path):
    assert local_airflow.display("file:///tmp/x/report") == "/tmp/x/report"
    assert local_airflow.display("s3://b/k") == "s3://b/k"
    assert local_airflow._report_result(tmp_path) is None
    (tmp_path / "validation_report.md").write_text("# Validation report: FAILED\n")
    assert local_airflow._report_result(tmp_path) == "Validation report: FAILED"
    (tmp_path / "validation_report.json").write_text('{"status": "passed"}')
    assert local_airflow._report_result(tmp_path) == "Result: PASSED"
