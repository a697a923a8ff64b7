"""Where a local job may read from and publish to on this machine.

Local data URIs (``file://`` or absolute paths) name folders of this machine, and the runner, often
root, copies into them. So a local output destination is refused, at create and again when
publishing (after resolving symlinks), when it is:

- inside a job store's internal folders (``jobs/``, ``runtimes/``, ``pycache/``: every job's request,
  state, logs and ``/opt/ml``, the runtimes' shims), of this store or of any other one (recognised by
  its marker file, or by a job folder's ``request.json`` + ``state.json``);
- a system folder (``/etc``, ``/usr``, ``/boot``, ``/var`` but ``/var/tmp``, ...), ``/`` itself, ``/opt/ml``,
  a home folder itself or a hidden entry right under one (``~/.ssh``, ``~/.bashrc``);
- outside every folder of ``SM_PROCESSING_OUTPUT_ROOTS`` (``os.pathsep``-separated), when it is set.

A local input is refused inside a store's internal folders (another job's files).
"""

from __future__ import annotations

import os
import pwd
from functools import cache
from pathlib import Path

MARKER = ".sm-processing-store"
STORE_INTERNALS = ("jobs", "runtimes", "pycache")
OUTPUT_ROOTS_ENV = "SM_PROCESSING_OUTPUT_ROOTS"
SYSTEM_AREAS = tuple(
    Path(p)
    for p in (
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/opt/ml",
        "/proc",
        "/run",
        "/sbin",
        "/sys",
        "/usr",
        "/var",
    )
)
SYSTEM_EXCEPTIONS = (Path("/var/tmp"),)


def resolve(path: Path | str) -> Path:
    """The path as the kernel will see it: symlinks of its existing part resolved, ``..`` applied."""
    return Path(os.path.realpath(path))


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@cache
def _home_folders() -> frozenset[Path]:
    """Users' home folders (``/root``, ``/home/*`` of the user database, ``~``), not daemons' ``/bin``."""
    homes = {Path("/root"), Path(os.path.expanduser("~"))}
    homes.update(Path(entry.pw_dir) for entry in pwd.getpwall() if entry.pw_dir.startswith("/home/"))
    return frozenset(resolve(h) for h in homes if h != Path("/"))


def store_internal(path: Path, home: Path | None = None) -> Path | None:
    """The store-internal folder that holds ``path`` (of ``home``'s store or any other), else None."""
    stores = [resolve(home)] if home else []
    for folder in (path, *path.parents):
        if (folder / MARKER).is_file():
            stores.append(folder)
        if (
            folder.parent.name == "jobs"
            and (folder / "state.json").is_file()
            and (folder / "request.json").is_file()
        ):
            return folder
    for store in stores:
        for name in STORE_INTERNALS:
            if _under(path, store / name):
                return store / name
    return None


def _system_area(path: Path) -> Path | None:
    if path == Path("/"):
        return path
    if any(_under(path, ok) and path != ok for ok in SYSTEM_EXCEPTIONS):
        return None
    for area in SYSTEM_AREAS:
        if _under(path, area):
            return area
    for home in _home_folders():
        if path == home:
            return home
        if home in path.parents and path.relative_to(home).parts[0].startswith("."):
            return home / path.relative_to(home).parts[0]
    return None


def _output_roots() -> list[Path]:
    raw = os.environ.get(OUTPUT_ROOTS_ENV, "")
    return [resolve(p) for p in raw.split(os.pathsep) if p.strip()]


def output_problem(path: Path, home: Path | None = None) -> str | None:
    """Why a local output may not be published to ``path`` (None when it may)."""
    real = resolve(path)
    shown = f"{path}" if real == Path(path) else f"{path} (resolved: {real})"
    inside = store_internal(real, home)
    if inside is not None:
        return f"{shown} is inside the job store ({inside}); outputs never go into a job store"
    area = _system_area(real)
    if area is not None:
        return f"{shown} is in a system or home folder ({area}); the local backend never publishes there"
    roots = _output_roots()
    if roots and not any(_under(real, root) for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        return f"{shown} is outside {OUTPUT_ROOTS_ENV} ({allowed})"
    return None


def input_problem(path: Path, home: Path | None = None) -> str | None:
    """Why a local input may not be read from ``path`` (None when it may)."""
    real = resolve(path)
    inside = store_internal(real, home)
    if inside is not None:
        return f"{path} is inside the job store ({inside}); a job never reads another job's files"
    return None
