"""What the request builder asks of a backend for anything local: a URI for it (the ``Stager``).

The builder never touches storage. It calls ``stage_*`` and writes the returned URI into the request;
the backend's stager decides what that URI is (the local file itself, or a content-addressed S3 key)
and transfers nothing until ``upload()``, so a request is validated before any byte moves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class Stager(Protocol):
    """URIs for local things. ``allow_local``: may the request keep local URIs (local backend)?

    ``addressed``: the URIs returned so far whose content hash is part of the URI (the step cache's
    key needs nothing more for them); files used in place are not in it.
    """

    allow_local: bool
    addressed: set[str]

    def stage_file(self, path: str | Path) -> str: ...

    def stage_dir(self, path: str | Path) -> str: ...

    def stage_bytes(self, data: bytes, filename: str) -> str: ...

    def stage_channel(self, paths: list[Path], channel: str) -> str: ...

    def upload(self) -> None:
        """Transfer what the ``stage_*`` calls planned (after the request was validated)."""
        ...


@dataclass(frozen=True)
class BuildTarget:
    """Where the request is going: its name, region, the backend's stager and default output prefix."""

    job_name: str
    region: str
    stager: Stager
    default_output_prefix: str | None = None


def channel_members(paths: Iterable[str | Path]) -> list[tuple[str, Path]]:
    """The files of a Spark deps channel: given files, plus the top-level files of given folders.

    That is what ``smspark-submit`` does with a folder in ``--py-files``/``--jars``/``--files``.
    Two entries with one file name would overwrite each other: a ``ValueError``.
    """
    members: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file())
            skipped = [p.name for p in path.iterdir() if p.is_dir()]
            if skipped:
                log.warning(
                    "%s: sub-folders %s are not passed to Spark (top-level files only)", path, skipped
                )
            if not found:
                raise ValueError(f"folder {path} holds no files")
        elif path.is_file():
            found = [path]
        else:
            raise ValueError(f"{path} is neither a file nor a folder")
        for p in found:
            if p.name in members and members[p.name].resolve() != p.resolve():
                raise ValueError(f"two files named {p.name!r}: {members[p.name]} and {p}")
            members[p.name] = p
    return sorted(members.items())
