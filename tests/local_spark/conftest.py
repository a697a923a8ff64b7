"""Fixtures of the local Spark tests. The endpoint tests' helpers (a real ``sm-processing serve``) are
shared, not copied: their folder is put on ``sys.path`` as pytest does for the endpoint tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from spark_cluster_support import FAST_JVM

sys.path.insert(0, str(Path(__file__).parents[1] / "endpoint"))


@pytest.fixture
def fast_jvm(monkeypatch: pytest.MonkeyPatch) -> str:
    """Test-only: C1-only JIT and the serial GC halve the CPU of short Spark JVMs (inherited by hosts)."""
    monkeypatch.setenv("JAVA_TOOL_OPTIONS", FAST_JVM)
    return FAST_JVM
