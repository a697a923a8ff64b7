"""Helpers of the live compose-stack tests: settings from .env, a logged-in REST client, compose exec,
clients of the stack's S3 (SeaweedFS) and SageMaker endpoint (``sm-processing serve``) from this machine."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"success", "failed"}


def env_setting(name: str, default: str) -> str:
    """The environment wins, then the repo's .env (the stack reads the same), then ``default``."""
    if os.environ.get(name):
        return os.environ[name]
    for line in (ROOT / ".env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    return default


def compose(*args: str, timeout: float = 120) -> str:
    """Runs the stack's compose command (``$STACK_COMPOSE``) in the repo; returns stdout, fails loudly."""
    cmd = [*shlex.split(os.environ.get("STACK_COMPOSE", "docker-compose")), *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{shlex.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


def published_url(name: str, port_setting: str, default_port: str) -> str:
    """A service's URL on this machine: ``$<name>`` (set by stack_test.sh) or 127.0.0.1 and its .env port."""
    return env_setting(name, f"http://127.0.0.1:{env_setting(port_setting, default_port)}")


def aws_client(service: str) -> Any:
    """boto3 for the stack's S3 (``s3``) or SageMaker endpoint (``sagemaker``), with the .env identity."""
    import boto3

    url = {
        "s3": published_url("STACK_S3_URL", "S3_PORT", "8333"),
        "sagemaker": published_url("STACK_SM_PROCESSING_URL", "SM_PROCESSING_PORT", "8081"),
    }[service]
    return boto3.client(
        service,
        endpoint_url=url,
        aws_access_key_id=env_setting("S3_ACCESS_KEY_ID", ""),
        aws_secret_access_key=env_setting("S3_SECRET_ACCESS_KEY", ""),
        region_name=env_setting("S3_REGION", "us-east-1"),
    )


def stack_bucket() -> str:
    """The first of ``S3_BUCKETS``: airflow-init creates it and uploads ``data/abalone.csv`` to it."""
    return env_setting("S3_BUCKETS", "sm-processing").split(",")[0].strip()


@dataclass
class AirflowApi:
    """The Airflow 3 REST API (``/api/v2``) with a bearer token from the simple auth manager."""

    base_url: str
    token: str

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.base_url}{path}", headers=headers, timeout=30, **kwargs)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.ok, f"{method} {path} -> {response.status_code}: {response.text[:1000]}"
        return response.json()

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        run = self.json("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        return run["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.json("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in TERMINAL or time.monotonic() > deadline:
                return run
            time.sleep(2)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.json("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The task's log as text (structured lines joined), read through the api-server."""
        body = self.json(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true"},
            headers={"Accept": "application/json"},
        )
        content = body["content"]
        if isinstance(content, str):
            return content
        return "\n".join(line.get("event", "") if isinstance(line, dict) else str(line) for line in content)

    def failure_summary(self, dag_id: str, run_id: str) -> str:
        """Task states and the tail of each failed task's log, for an assertion message."""
        lines = []
        for ti in self.task_instances(dag_id, run_id):
            lines.append(f"{ti['task_id']}: {ti['state']} (try {ti['try_number']})")
            if ti["state"] in ("failed", "up_for_retry") and ti["try_number"]:
                log = self.task_log(dag_id, run_id, ti["task_id"], ti["try_number"])
                lines.append("    " + "\n    ".join(log.splitlines()[-25:]))
        return "\n".join(lines)


def login(base_url: str, username: str, password: str) -> requests.Response:
    return requests.post(
        f"{base_url}/auth/token", json={"username": username, "password": password}, timeout=30
    )
