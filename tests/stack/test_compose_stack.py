"""The compose stack, checked without a Docker engine: the file parses, every Airflow service
runs this repo's DAGs on the local backend, and every bind mount and build input exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_services_present(compose: dict) -> None:
    assert AIRFLOW_SERVICES | {"postgres"} <= set(compose["services"])


@pytest.mark.parametrize("service", sorted(AIRFLOW_SERVICES))
def test_airflow_services_use_local_backend(compose: dict, service: str) -> None:
    env = compose["services"][service]["environment"]
    conn = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert conn["extra"]["processing_backend"] == "local"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    mounts = dict(v.split(":")[1::-1] for v in compose["services"][service]["volumes"] if v.startswith("./"))
    assert mounts[env["AIRFLOW__CORE__DAGS_FOLDER"]] == "./dags"
    assert mounts[env["AIRFLOW__CORE__PLUGINS_FOLDER"]] == "./plugins"


def test_bind_mounts_and_build_inputs_exist(compose: dict) -> None:
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"bind mount source missing: {source}"
        build = service.get("build")
        if build:
            dockerfile = ROOT / build["context"] / build["dockerfile"]
            assert dockerfile.is_file()
            for line in dockerfile.read_text().splitlines():
                if line.startswith("COPY"):
                    for src in line.split()[1:-1]:
                        if not src.startswith("--"):
                            assert (ROOT / src).exists(), f"Dockerfile COPY source missing: {src}"


def test_depends_on_targets_exist(compose: dict) -> None:
    for name, service in compose["services"].items():
        for dep in service.get("depends_on", {}):
            assert dep in compose["services"], f"{name} depends on unknown service {dep}"
