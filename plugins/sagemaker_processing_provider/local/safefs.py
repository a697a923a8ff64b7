"""Reading what a job wrote without following anything the job made.

A job owns everything under its ``/opt/ml``: it may replace a folder by a symlink to a host folder,
leave a FIFO where the runner reads its exit message, or create device nodes. Everything here walks
from a trusted root one component at a time with ``O_NOFOLLOW``, opens files with ``O_NONBLOCK``, and
accepts only regular files and real folders; anything else is skipped with a log line. So the runner
never publishes a host file through a job's symlink and never blocks on a job's FIFO or device.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NOT_A_REAL_FOLDER = (errno.ELOOP, errno.ENOTDIR)


def _parts(rel: str) -> list[str]:
    parts = [p for p in rel.split("/") if p and p != "."]
    if ".." in parts:
        raise ValueError(f"path {rel!r} contains '..'")
    return parts


def open_dir(root: Path, rel: str, what: str = "") -> int | None:
    """An fd on ``root/rel`` reached without following symlinks, or None (missing, or not a real folder)."""
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError:
        return None
    for part in _parts(rel):
        try:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            os.close(fd)
            if exc.errno in _NOT_A_REAL_FOLDER:
                logger.warning("%s: skipping %s/%s: not a real folder (a symlink or a file)", what, root, rel)
            return None
        os.close(fd)
        fd = child
    return fd


def open_regular(dir_fd: int, name: str, shown: str) -> BinaryIO | None:
    """``name`` in ``dir_fd`` opened for reading if it is a regular file (never a symlink, FIFO or device)."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            logger.warning("skipping %s: a symlink (never followed)", shown)
        return None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        logger.warning("skipping %s: not a regular file (%s)", shown, _kind(mode))
        return None
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def open_file(root: Path, rel: str) -> BinaryIO | None:
    """``root/rel`` for reading if every folder on the way is real and the file is regular, else None."""
    parts = _parts(rel)
    if not parts:
        return None
    fd = open_dir(root, "/".join(parts[:-1]))
    if fd is None:
        return None
    try:
        return open_regular(fd, parts[-1], f"{root}/{rel}")
    finally:
        os.close(fd)


def read_head(root: Path, rel: str, limit: int) -> bytes | None:
    """At most ``limit`` bytes of a regular file under ``root`` (None if absent or not regular)."""
    handle = open_file(root, rel)
    if handle is None:
        return None
    with handle:
        return handle.read(limit)


def regular_files(root: Path, rel: str, what: str) -> Iterator[str]:
    """Relative paths of the regular files below ``root/rel``; symlinks, FIFOs, devices are skipped."""
    top = open_dir(root, rel, what)
    if top is None:
        return
    stack: list[tuple[int, str]] = [(top, "")]
    while stack:
        fd, prefix = stack.pop()
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    path = f"{prefix}{entry.name}"
                    if entry.is_dir(follow_symlinks=False):
                        try:
                            stack.append((os.open(entry.name, _DIR_FLAGS, dir_fd=fd), f"{path}/"))
                        except OSError:
                            logger.warning("%s: skipping folder %s (cannot open it)", what, path)
                    elif entry.is_file(follow_symlinks=False):
                        yield path
                    else:
                        kind = "a symlink" if entry.is_symlink() else "not a regular file"
                        logger.warning("%s: skipping %s (%s; never published)", what, path, kind)
        finally:
            os.close(fd)


def copy_out(root: Path, rel: str, target: Path) -> int | None:
    """Copy ``root/rel`` (a regular file, reached safely) to ``target``; its size, or None if skipped."""
    handle = open_file(root, rel)
    if handle is None:
        return None
    with handle, open(target, "wb") as out:
        size = 0
        while chunk := handle.read(1 << 20):
            out.write(chunk)
            size += len(chunk)
    return size


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "special file"
