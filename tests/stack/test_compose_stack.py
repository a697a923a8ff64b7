"""The compose stack, checked without a Docker engine: the file parses, every Airflow service
runs this repo's DAGs on the local backend with one shared secret, every variable has a value, and
every bind mount and build input exists and is in the build context. (`make stack-test` runs it.)"""

from __future__ import annotations

import json
import re
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


JOB_RUNNERS = {"airflow-scheduler", "sm-processing"}  # LocalExecutor runs tasks in the scheduler


def test_services_present(compose: dict) -> None:
    assert AIRFLOW_SERVICES | JOB_RUNNERS | {"postgres", "s3"} <= set(compose["services"])


def _dotenv() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / ".env").read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


def test_every_variable_has_a_value() -> None:
    """Each ${VAR} in the compose file is set in .env or has a default there (${VAR:-x})."""
    text = (ROOT / "docker-compose.yaml").read_text()
    env = _dotenv()
    for name, default in re.findall(r"(?<!\$)\$\{(\w+)(:-[^}]*)?\}", text):
        assert name in env or default, f"${{{name}}} has neither a value in .env nor a default"
    for name in re.findall(r"\$\{(\w+):\?", text):
        assert env.get(name), f"{name} must be set in .env"


def test_one_secret_key_for_all_airflow_components(compose: dict) -> None:
    services = compose["services"]
    for key in ("AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET"):
        values = {services[s]["environment"][key] for s in AIRFLOW_SERVICES | JOB_RUNNERS}
        assert len(values) == 1 and "${" in next(iter(values)), f"{key} differs or is not from .env: {values}"


def test_job_runners_get_namespaces(compose: dict) -> None:
    for name in JOB_RUNNERS:
        service = compose["services"][name]
        assert service["privileged"] is True, f"{name}: unshare --mount-proc needs it (see the compose file)"
        assert service["environment"]["SM_PROCESSING_SANDBOX"] == "namespace"


def test_login_file_is_not_a_bind_mount(compose: dict) -> None:
    """The simple auth manager opens its passwords file for append: a repo file mounted in breaks it."""
    for name in AIRFLOW_SERVICES:
        path = compose["services"][name]["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
        folder = str(Path(path).parent)
        volumes = compose["services"][name]["volumes"]
        assert not any(
            v.split(":")[0].startswith("./") and v.split(":")[1] in (path, folder) for v in volumes
        )


def test_build_context_is_an_allowlist() -> None:
    """.dockerignore keeps .venv & co. out of the context: everything is ignored but what is COPYed."""
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()]
    assert "*" in lines
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY"):
            for src in line.split()[1:-1]:
                if not src.startswith("--"):
                    assert src.rstrip("/") in allowed, f"{src} is COPYed but excluded by .dockerignore"


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


def test_endpoint_is_a_normal_service_with_a_healthcheck(compose: dict) -> None:
    """`sm-processing serve` starts with `up` (no profile) and counts for "healthy"."""
    service = compose["services"]["sm-processing"]
    assert "profiles" not in service
    assert service["command"][:2] == ["sm-processing", "serve"]
    assert "SageMaker.ListProcessingJobs" in " ".join(service["healthcheck"]["test"])


@pytest.mark.parametrize("service", sorted(AIRFLOW_SERVICES | JOB_RUNNERS))
def test_stack_aws_connection_points_at_the_stack(compose: dict, service: str) -> None:
    """The AWS code path's connection: SageMaker and Logs on the endpoint, S3 on SeaweedFS, by
    service name and port; credentials of the S3 identity in .env."""
    env = compose["services"][service]["environment"]
    conn = json.loads(
        re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", env["AIRFLOW_CONN_SAGEMAKER_PROCESSING_STACK_AWS"])
    )
    assert conn["extra"]["processing_backend"] == "aws"
    endpoints = {name: cfg["endpoint_url"] for name, cfg in conn["extra"]["service_config"].items()}
    serve = compose["services"]["sm-processing"]["command"]
    port = serve[serve.index("--port") + 1]
    assert endpoints == {
        "sagemaker": f"http://sm-processing:{port}",
        "logs": f"http://sm-processing:{port}",
        "s3": "http://s3:8333",
    }
    assert "${S3_ACCESS_KEY_ID" in env["AIRFLOW_CONN_SAGEMAKER_PROCESSING_STACK_AWS"]
    assert env["AIRFLOW_VAR_SAGEMAKER_PROCESSING_CODE_LOCATION"].startswith("${STACK_CODE_LOCATION")


def test_scheduled_runs_are_not_switched_off(compose: dict) -> None:
    """Manual triggers run at once because the DAGs allow several active runs, not because the
    stack stops scheduling (the former AIRFLOW_USE_JOB_SCHEDULE=false workaround)."""
    text = (ROOT / "docker-compose.yaml").read_text() + (ROOT / "scripts/stack/stack_test.sh").read_text()
    assert "USE_JOB_SCHEDULE" not in text


def test_containers_that_run_jobs_do_not_share_a_job_store(compose: dict) -> None:
    """A store judges its runners alive by their pids in /proc: only within one PID namespace. The
    endpoint reading the scheduler's store failed the scheduler's running jobs as "gone"."""
    homes = {}
    for name in JOB_RUNNERS:
        service = compose["services"][name]
        home = service["environment"]["SM_PROCESSING_HOME"]
        if "--home" in service.get("command", []):
            assert service["command"][service["command"].index("--home") + 1] == home
        homes[name] = home
    assert len(set(homes.values())) == len(homes), homes
