"""Shared fixtures: Airflow kept off the user's ~/airflow, and moto's real server for AWS paths."""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before anything imports Airflow: tests never read or write the developer's ~/airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="sm-processing-tests-airflow-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# ... nor the developer's cache (the image-URI cache lives there): one private cache per session.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="sm-processing-tests-cache-")

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server in a thread for the whole session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


AWS_CLEARED = ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def _aws_settings(endpoint: str, config_file: str) -> dict[str, str]:
    """Fake credentials, no ~/.aws (an empty config file), every AWS service at ``endpoint``."""
    return {
        **FAKE_AWS_ENV,
        "AWS_CONFIG_FILE": config_file,
        "AWS_SHARED_CREDENTIALS_FILE": config_file,
        "AWS_ENDPOINT_URL": endpoint,
    }


@pytest.fixture
def aws_env(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Points boto3 (and any subprocess) at the moto server with fake credentials; yields the endpoint."""
    for name in AWS_CLEARED:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.mktemp("aws-config") / "none"  # never read the developer's ~/.aws
    for name, value in _aws_settings(moto_server, str(empty)).items():
        monkeypatch.setenv(name, value)
    return moto_server


@pytest.fixture
def s3(moto_server):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def bucket(s3):
    name = f"my-bucket-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_stager(s3, bucket):
    from sagemaker_processing_provider.backends.staging import S3Stager

    return S3Stager(s3, bucket, "code")


@pytest.fixture
def local_stager(tmp_path):
    from sagemaker_processing_provider.backends.staging import LocalStager

    return LocalStager(tmp_path / "home")


@pytest.fixture(scope="session")
def aws_subprocess_env(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a child process (server, CLI, Airflow) as ``aws_env`` sets it, for any scope."""
    empty = tmp_path_factory.mktemp("aws-config-subprocess") / "none"
    env = {
        k: v for k, v in os.environ.items() if k not in AWS_CLEARED and not k.startswith("AWS_ENDPOINT_URL")
    }
    return {**env, **_aws_settings(moto_server, str(empty))}


@pytest.fixture(scope="session")
def migrated_airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``airflow db migrate`` for the whole session, as ``scripts/local_airflow.py`` makes it (its
    stamp included). A migrate costs ~4 s of CPU (10-30 s on a loaded 2-core machine) and four test
    modules each ran their own; they now copy this one's database (``with_migrated_db``)."""
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "scripts" / "local_airflow.py"
    spec = importlib.util.spec_from_file_location("local_airflow_for_tests", script)
    local_airflow = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(local_airflow)
    home = tmp_path_factory.mktemp("airflow-db-template")
    local_airflow.ensure_db(local_airflow.airflow_env(home))
    return home


@pytest.fixture(scope="session")
def with_migrated_db(migrated_airflow_home: Path):
    """``with_migrated_db(airflow_home)``: give a new Airflow home (SQLite at its default place) the
    session's migrated database; the copy is the state ``airflow db migrate`` leaves, in milliseconds."""
    import shutil

    def copy(airflow_home: Path) -> Path:
        airflow_home.mkdir(parents=True, exist_ok=True)
        for name in ("airflow.db", ".db-migrated"):
            shutil.copyfile(migrated_airflow_home / name, airflow_home / name)
        return airflow_home

    return copy
