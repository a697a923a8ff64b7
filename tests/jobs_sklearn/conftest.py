"""Fixtures for the scikit-learn processing jobs: each job runs as a subprocess, as SageMaker runs it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "processing_scripts" / "sklearn"
ABALONE = REPO / "data" / "abalone.csv"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"sklearn_job_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fe():
    """The feature engineering script as a module (its hash and split functions)."""
    return _load("feature_engineering")


@pytest.fixture(scope="session")
def run_job(tmp_path_factory):
    """run_job(script, *args) -> CompletedProcess; fails loudly with the job's output on a crash.

    Bytecode goes to a private cache: with PYTHONDONTWRITEBYTECODE every run would re-compile
    scikit-learn (~10 s here), unlike a real container.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.getbasetemp() / "pycache")

    def run(script: str, *args: object, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [sys.executable, str(SCRIPTS / f"{script}.py"), *map(str, args)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(f"{script} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture(scope="session")
def abalone_chain(run_job, tmp_path_factory):
    """feature_engineering -> split -> validate on the shipped Abalone data, run once per session."""
    root = tmp_path_factory.mktemp("abalone_chain")
    msg = root / "message"
    run_job(
        "feature_engineering",
        "--input",
        ABALONE,
        "--output",
        root / "features",
        "--transform-output",
        root / "transform",
        "--message-file",
        msg,
    )
    run_job("split", "--input", root / "features", "--output", root / "splits", "--message-file", msg)
    proc = run_job(
        "validate",
        "--train",
        root / "splits/train",
        "--validation",
        root / "splits/validation",
        "--test",
        root / "splits/test",
        "--raw",
        ABALONE,
        "--transform",
        root / "transform",
        "--output",
        root / "report",
        "--message-file",
        msg,
        check=False,
    )
    return root, proc
