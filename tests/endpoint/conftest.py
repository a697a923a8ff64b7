"""Fixtures: ``sm-processing serve`` as a real process on a free port, its jobs' S3 on moto's server.

One server per test module (``endpoint``): tests use their own job names, so they share it safely.
The server's environment carries only ``AWS_ENDPOINT_URL_S3`` (no global endpoint), which proves
that jobs reach S3 through the standard AWS configuration.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from endpoint_support import Endpoint, start_endpoint


@pytest.fixture(scope="module")
def endpoint(
    moto_server: str, aws_subprocess_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    server = start_endpoint(tmp_path_factory.mktemp("serve-store"), aws_subprocess_env, moto_server)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws(aws_env: str, endpoint: Endpoint) -> Endpoint:
    """The endpoint, with this process's boto3 on moto for S3 (and fake credentials)."""
    return endpoint


@pytest.fixture
def bucket(aws: Endpoint, request: pytest.FixtureRequest) -> str:
    """A fresh bucket on moto for this test."""
    import boto3

    name = f"ep-{uuid.uuid4().hex[:8]}-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40]
    name = name.strip("-")
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def release(tmp_path: Path) -> Iterator[Path]:
    """A file whose creation lets a ``wait`` job go on; created at teardown so no job outlives a test."""
    path = tmp_path / "release"
    yield path
    path.touch()
