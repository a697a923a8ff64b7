"""A cache miss of ``local/pyenv.py``: install what the project's environment lacks, with uv, into a new folder.

uv's dry run against the project's own environment (``--output-format json``) says what ``pip install``
would change there: missing packages and other versions. Only those are installed, into a temporary
``--target`` folder, with every other package of the project's environment ``--excludes``-d from the
resolution (so scikit-learn or pandas named in a requirements file are not installed again). The
folder is renamed into place when complete (the caller holds the per-key lock).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sagemaker_processing_provider.errors import RequirementsError as InstallError


def uv() -> str:
    """The ``uv`` binary: the ``uv`` package's, else the one next to this Python, else on ``PATH``."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        beside = Path(sys.executable).with_name("uv")
        found = str(beside) if beside.is_file() else shutil.which("uv")
        if found:
            return found
    raise InstallError(
        "the local runtime installs requirements with uv, which is not installed (pip install uv)"
    )


def run_uv(args: list[str]) -> str:
    proc = subprocess.run([uv(), "pip", "install", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise InstallError(uv_message(proc.stderr) or f"uv exited with {proc.returncode}")
    return proc.stdout


def uv_message(stderr: str) -> str:
    """uv's error (``error: No solution found ...`` + ``cause: Because ...``) as one line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith(("×", "error:"))), len(lines) - 3)
    parts = [line.lstrip("×╰─▶│├ ").removeprefix("error:").removeprefix("cause:") for line in lines[start:]]
    return ": ".join(part.strip() for part in parts if part.strip())


def changes(args: list[str]) -> list[str]:
    """``name==version`` pip would install into the project's environment (dry run, nothing changes)."""
    out = run_uv(["--dry-run", "--output-format", "json", "--python", sys.executable, *args])
    found = json.loads(out).get("changes", [])
    return [f"{c['name']}=={c['version']}" for c in found if c.get("action") == "installed"]


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def install_into(folder: Path, args: list[str]) -> list[str]:
    """Install into ``folder`` what the project's environment lacks; return those pins."""
    wanted = changes(args)
    if wanted:
        from importlib.metadata import distributions

        names = {_normal(w.split("==")[0]) for w in wanted}
        keep = sorted({d.metadata["Name"] for d in distributions() if d.metadata["Name"]})
        excludes = folder / ".excludes.txt"
        excludes.write_text("\n".join(n for n in keep if _normal(n) not in names))
        run_uv(["--python", sys.executable, "--target", str(folder), "--excludes", str(excludes), *args])
        excludes.unlink()
    return wanted


def build_once(final: str, args: list[str], key: str, installed_file: str) -> None:
    """Build the environment in a temp folder beside ``final``, then rename it into place."""
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=os.path.dirname(final)))
    try:
        pins = install_into(tmp, args)
        (tmp / installed_file).write_text("".join(f"{p}\n" for p in pins))
        record = {"key": key, "args": args, "installed": pins, "python": sys.version}
        record["seconds"] = round(time.monotonic() - started, 2)
        (tmp / "sm-pyenv.json").write_text(json.dumps(record, indent=1))  # for humans
        os.rename(tmp, final)
        print(f"Requirements: built environment {key} in {record['seconds']} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
