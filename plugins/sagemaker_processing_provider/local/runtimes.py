"""Image URI -> local runtime: a folder of shims put first on the host's ``PATH``.

SageMaker runs ``ContainerEntrypoint`` inside the image; locally the same entrypoint (``python3 ...``,
``smspark-submit ...``) runs unchanged because the shims named like the image's commands come first on
``PATH``. Shims are small shell scripts, not symlinks: a symlink to a venv's python does not find the
venv (``pyvenv.cfg`` is looked up next to the link), while ``exec /venv/bin/python`` does.

Extend the table with ``SM_PROCESSING_IMAGE_MAP``, a JSON object ``{"<regex on the repository name>":
"<runtime>"}``, e.g. ``{"my-team/sklearn-.*": "sklearn"}``; its entries are tried before the built-ins.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import NamedTuple

IMAGE_MAP_ENV = "SM_PROCESSING_IMAGE_MAP"


class Runtime(NamedTuple):
    """A local stand-in for an image: the shims it needs and its default entrypoint."""

    name: str
    shims: dict[str, str]  # command name -> arguments after the project's python ("" = plain python)
    default_entrypoint: tuple[str, ...] = ()


RUNTIMES: dict[str, Runtime] = {
    "sklearn": Runtime("sklearn", {"python3": "", "python": ""}),
    "spark": Runtime(
        "spark",
        {
            "python3": "",
            "python": "",
            "smspark-submit": "-m sagemaker_processing_provider.local.smspark_submit",
        },
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


def _shim_text(python: str, args: str) -> str:
    tail = f" {args}" if args else ""
    return f'#!/bin/sh\nexec "{python}"{tail} "$@"\n'


def shim_dir(runtime: Runtime, home: Path, python: str | None = None) -> Path:
    """Write (once, atomically) the runtime's shims under ``home/runtimes/<name>/bin``; return it."""
    python = python or sys.executable
    bin_dir = home / "runtimes" / runtime.name / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for command, args in runtime.shims.items():
        path = bin_dir / command
        text = _shim_text(python, args)
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
