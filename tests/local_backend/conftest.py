"""Fixtures for the local backend tests: a private job store per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from sagemaker_processing_provider.local.backend import LocalProcessingBackend


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def backend(home: Path) -> LocalProcessingBackend:
    return LocalProcessingBackend(home)


@pytest.fixture
def script(tmp_path: Path):
    """Write a Python script file and return its path."""

    def write(text: str, name: str = "job.py") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
