"""Image URI -> local runtime: a folder of shims put first on the host's ``PATH``.

SageMaker runs ``ContainerEntrypoint`` inside the image; locally the same entrypoint (``python3 ...``,
``smspark-submit ...``) runs unchanged because the shims named like the image's commands come first on
``PATH``. Shims are small shell scripts, not symlinks: a symlink to a venv's python does not find the
venv (``pyvenv.cfg`` is looked up next to the link), while ``exec /venv/bin/python`` does.

``pip install`` (``python3 -m pip install``, ``pip``, ``pip3``) must not change the project's
environment, which every job shares: the shims send it to ``local/pyenv.py``, which installs into a
cached overlay and records it for the host; every shim puts the host's overlays first on
``PYTHONPATH`` (read from ``/opt/ml/.sm-processing/pythonpath``: ``/opt/ml`` is the host's own).

Extend the table with ``SM_PROCESSING_IMAGE_MAP``, a JSON object ``{"<regex on the repository name>":
"<runtime>"}``, e.g. ``{"my-team/sklearn-.*": "sklearn"}``; its entries are tried before the built-ins.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import NamedTuple

from sagemaker_processing_provider.local.pyenv import PYTHONPATH_FILE

IMAGE_MAP_ENV = "SM_PROCESSING_IMAGE_MAP"
PYTHON = ""  # a shim that is the interpreter itself
PIP = "-m sagemaker_processing_provider.local.pyenv pip"


class Runtime(NamedTuple):
    """A local stand-in for an image: the shims it needs and its default entrypoint."""

    name: str
    shims: dict[str, str]  # command name -> arguments after the project's python ("" = plain python)
    default_entrypoint: tuple[str, ...] = ()


PYTHON_SHIMS = {"python3": PYTHON, "python": PYTHON, "pip": PIP, "pip3": PIP}
RUNTIMES: dict[str, Runtime] = {
    "sklearn": Runtime("sklearn", PYTHON_SHIMS),
    "spark": Runtime(
        "spark",
        {**PYTHON_SHIMS, "smspark-submit": "-m sagemaker_processing_provider.local.smspark_submit"},
        default_entrypoint=("smspark-submit",),
    ),
}

# Regexes on the repository name (the part of the URI after the registry host, before the tag).
IMAGE_TABLE: list[tuple[str, str]] = [
    (r"(^|/)sagemaker-scikit-learn$", "sklearn"),
    (r"(^|/)sagemaker-spark-processing$", "spark"),
]


def repository_name(image_uri: str) -> str:
    """``683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3`` -> repo."""
    name = image_uri.split("@", 1)[0]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        name = rest  # drop the registry host
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name = name[:colon]  # drop the tag
    return name


def _table() -> list[tuple[str, str]]:
    from sagemaker_processing_provider.errors import UnsupportedImageError

    raw = os.environ.get(IMAGE_MAP_ENV, "").strip()
    if not raw:
        return IMAGE_TABLE
    try:
        extra = json.loads(raw)
        if not isinstance(extra, dict):
            raise ValueError("not a JSON object")
        for pattern, runtime in extra.items():
            re.compile(pattern)
            if runtime not in RUNTIMES:
                raise ValueError(f"unknown runtime {runtime!r} (known: {', '.join(sorted(RUNTIMES))})")
    except (ValueError, re.error) as exc:
        raise UnsupportedImageError(
            f"{IMAGE_MAP_ENV} must be a JSON object mapping a regex on the image repository name to a "
            f"runtime name: {exc}"
        ) from exc
    return list(extra.items()) + IMAGE_TABLE


def resolve(image_uri: str) -> Runtime:
    """The runtime for an image, or UnsupportedImageError naming the image and how to map it."""
    from sagemaker_processing_provider.errors import UnsupportedImageError

    repo = repository_name(image_uri)
    for pattern, runtime in _table():
        if re.search(pattern, repo):
            return RUNTIMES[runtime]
    raise UnsupportedImageError(
        f"The local backend has no runtime for image {image_uri!r} (repository {repo!r}). Supported: "
        "sagemaker-scikit-learn (runtime 'sklearn') and sagemaker-spark-processing (runtime 'spark'). "
        f'To run it with one of them, set {IMAGE_MAP_ENV}=\'{{"<regex on the repository name>": '
        f'"sklearn"}}\' (runtimes: {", ".join(sorted(RUNTIMES))}).'
    )


# The host's requirement overlays (local/pyenv.py) go first on PYTHONPATH, once.
_OVERLAYS = f"""if [ -r {PYTHONPATH_FILE} ]; then
  read -r overlays < {PYTHONPATH_FILE}
  case ":${{PYTHONPATH:-}}:" in
    *":$overlays:"*) ;;
    *) PYTHONPATH="$overlays${{PYTHONPATH:+:$PYTHONPATH}}"; export PYTHONPATH ;;
  esac
fi
"""


def _shim_text(python: str, args: str, home: Path) -> str:
    """The shim; ``pip`` learns the store's folder from its command line, not from the job's env."""
    pip = PIP.replace(" pip", f" --home {shlex.quote(str(home))} pip")
    args = pip if args == PIP else args
    lines = ["#!/bin/sh", _OVERLAYS.rstrip()]
    if args == PYTHON:  # `python3 -m pip ...` is pip too
        lines.append(
            f'if [ "${{1:-}}" = -m ] && [ "${{2:-}}" = pip ]; then shift 2; exec "{python}" {pip} "$@"; fi'
        )
    tail = f" {args}" if args else ""
    lines.append(f'exec "{python}"{tail} "$@"')
    return "\n".join(lines) + "\n"


def shim_dir(runtime: Runtime, home: Path, python: str | None = None) -> Path:
    """Write (once, atomically) the runtime's shims under ``home/runtimes/<name>/bin``; return it."""
    python = python or sys.executable
    bin_dir = home / "runtimes" / runtime.name / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for command, args in runtime.shims.items():
        path = bin_dir / command
        text = _shim_text(python, args, home)
        try:
            if path.read_text() == text:
                continue
        except OSError:
            pass
        tmp = bin_dir / f".{command}.{os.getpid()}.tmp"
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, path)
    return bin_dir
