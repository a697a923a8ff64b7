"""`make` checks its prerequisites with one clear line each, not a stack trace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_prereqs.sh"


def run(python: str, path: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["/bin/bash", str(SCRIPT), python],
        env={"PATH": path},
        capture_output=True,
        text=True,
        check=False,
    )


def test_this_machine_passes() -> None:
    import os

    result = run(sys.executable, os.environ["PATH"])
    assert result.returncode == 0, result.stderr


def test_missing_java_and_unshare_are_named(tmp_path: Path) -> None:
    result = run(sys.executable, str(tmp_path))  # an empty PATH: no java, no unshare
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("error: Java not found") for line in lines)
    assert any(line.startswith("error: unshare not found") for line in lines)
    assert "Traceback" not in result.stderr


def test_old_python_is_named(tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nexit 1\n")  # answers the version probe like an old Python
    fake.chmod(0o755)
    result = run(str(fake), "/usr/bin:/bin")
    assert result.returncode == 1 and "3.11 or newer is needed" in result.stderr
