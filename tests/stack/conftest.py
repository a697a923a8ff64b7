"""Fixtures of the live compose-stack tests (marker ``stack``; run by ``make stack-test``, which
brings the stack up first and always tears it down)."""

from __future__ import annotations

import pytest
import requests
from stack_support import AirflowApi, env_setting, login


@pytest.fixture(scope="session")
def stack_url() -> str:
    url = env_setting("STACK_AIRFLOW_URL", f"http://127.0.0.1:{env_setting('AIRFLOW_PORT', '8080')}")
    try:
        requests.get(f"{url}/api/v2/version", timeout=10).raise_for_status()
    except requests.RequestException as exc:
        pytest.fail(f"no Airflow API server at {url} ({exc}); run `make stack-test` (it starts the stack)")
    return url


@pytest.fixture(scope="session")
def credentials() -> tuple[str, str]:
    return env_setting("AIRFLOW_ADMIN_USERNAME", "airflow"), env_setting("AIRFLOW_ADMIN_PASSWORD", "airflow")


@pytest.fixture(scope="session")
def api(stack_url: str, credentials: tuple[str, str]) -> AirflowApi:
    response = login(stack_url, *credentials)
    assert response.status_code in (200, 201), f"login failed: {response.status_code} {response.text}"
    return AirflowApi(stack_url, response.json()["access_token"])
