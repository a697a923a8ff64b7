"""This machine's cache of what is slow to find and cheap to find again (image URIs, the service
model's processing shapes): ``$XDG_CACHE_HOME/sagemaker-processing-provider/``. Best effort: a
read-only home only means finding it again."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def path(name: str) -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "sagemaker-processing-provider" / name


def write(target: Path, text: str) -> None:
    """Atomic, so concurrent readers never see half a file; a failure is only logged."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, target)
    except OSError as exc:
        log.debug("%s not cached: %s", target, exc)
