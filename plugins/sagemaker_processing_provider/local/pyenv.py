"""``pip install`` inside a local job: installed once into a cached environment layered over the project's.

In the image, ``runproc.sh`` (``request/bundle.py``) or a script runs ``python3 -m pip install -r
requirements.txt`` and pip changes the container's Python. Locally that Python is this project's
environment, shared by every job, so the runtime's shims (``local/runtimes.py``) send ``pip install``
here instead (``python -m sagemaker_processing_provider.local.pyenv pip install ...``):

1. **Key**: sha256 of this Python's version and environment (its installed distributions), the pip
   arguments and the content of the requirement files they name (``-r``/``-c``, nested too).
2. **Cache hit**: ``<home>/pyenvs/<key>`` exists (it appears complete, by an atomic rename): nothing
   to install. This path runs at the start of every such job, so it imports only ``os``, ``sys``,
   ``hashlib`` and ``fcntl`` (``json``/``pathlib`` pull in ``re``: ~3x this module's own cost).
3. **Miss**: under a per-key file lock (two jobs installing the same key wait for each other, and the
   second finds the first's result), ``local/pyenv_build.py`` installs what the project's environment
   lacks into a temporary folder with uv, which is then renamed into place.
4. The folder is recorded first in ``/opt/ml/.sm-processing/pythonpath`` (per host: each host has its
   own ``/opt/ml``); the shims put it first on ``PYTHONPATH`` of every later Python of that host
   (the script, ``smspark-submit``, Spark's Python workers), so it wins over the project's versions.

A failed install prints uv's message and a pip-style ``ERROR: ...`` line and exits 1 (``runproc.sh``
turns that line into the job's ``ExitMessage``). Console scripts of installed packages are not put
on ``PATH`` (use ``python3 -m <module>``). Remove ``<home>/pyenvs`` to reclaim the space.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys

from sagemaker_processing_provider.errors import RequirementsError as InstallError

HOST_STATE = "/opt/ml/.sm-processing"
PYTHONPATH_FILE = f"{HOST_STATE}/pythonpath"
KEY_LENGTH = 24
INSTALLED = "sm-pyenv-installed.txt"  # one pin a line: what the environment adds to the project's
# pip options that mean nothing to uv (or to an environment the runtime chooses): dropped.
_DROPPED = {
    "--no-cache-dir", "--disable-pip-version-check", "--no-warn-script-location", "--user", "--no-input",
    "--isolated", "--prefer-binary", "--no-warn-conflicts", "--no-color",
}  # fmt: skip
_DROPPED_WITH_VALUE = {"--root-user-action", "--progress-bar", "--cache-dir", "--timeout", "--retries"}
_REFUSED = {"--target", "-t", "--prefix", "--root", "--editable", "-e"}
_FILE_OPTIONS = {"-r", "--requirement", "-c", "--constraint"}


def uv_args(pip_args: list[str]) -> list[str]:
    """``pip install`` arguments as ``uv pip install`` takes them."""
    out: list[str] = []
    args = iter(pip_args)
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in _REFUSED:
            raise InstallError(f"pip install {name} is not supported by the local runtime")
        if name in _DROPPED_WITH_VALUE:
            if "=" not in arg:
                next(args, None)
        elif name not in _DROPPED:
            out.append(arg)
    if not out:
        raise InstallError("pip install: nothing to install")
    return out


def _files(args: list[str]) -> list[str]:
    """The requirement/constraint files the arguments name (``-r f``, ``-rf``, ``--requirement=f``)."""
    found, i = [], 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if name in _FILE_OPTIONS:
            value = value if eq else (args[i + 1] if i + 1 < len(args) else "")
            i += 0 if eq else 1
        elif arg[:2] in ("-r", "-c") and len(arg) > 2:
            value = arg[2:]
        else:
            value = ""
        if value:
            found.append(value)
        i += 1
    return found


def _file_digests(files: list[str], seen: set[str] | None = None) -> list[str]:
    """Each named file's sha256, and of the files it includes with ``-r``/``-c`` (relative to it)."""
    seen = set() if seen is None else seen
    digests = []
    for path in files:
        resolved = os.path.realpath(path)
        if resolved in seen:
            continue
        seen.add(resolved)
        try:
            with open(resolved, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise InstallError(f"cannot read {path}: {exc.strerror}") from exc
        digests.append(f"{path}\0{hashlib.sha256(data).hexdigest()}")
        lines = data.decode(errors="replace").splitlines()
        nested = [arg for line in lines for arg in line.split("#", 1)[0].split()]
        folder = os.path.dirname(resolved)
        digests += _file_digests([os.path.join(folder, p) for p in _files(nested)], seen)
    return digests


def base_environment() -> list[str]:
    """What the overlay is layered on: this Python and the distributions its ``site-packages`` hold."""
    dirs = sorted({p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")})
    names = sorted(n for d in dirs if os.path.isdir(d) for n in os.listdir(d) if n.endswith(".dist-info"))
    return [sys.version, sys.prefix, *dirs, *names]


def environment_key(args: list[str]) -> str:
    material = [*base_environment(), "\0".join(args), *_file_digests(_files(args))]
    return hashlib.sha256("\n".join(material).encode()).hexdigest()[:KEY_LENGTH]


def _lock(path: str, key: str) -> int:
    """An exclusive lock on ``path`` (held until the returned descriptor is closed)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"Waiting for another job installing the same requirements ({key})", flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def ensure(args: list[str], home: str | os.PathLike) -> tuple[str, list[str], bool]:
    """``(folder, pins it adds, cached?)`` for these arguments: found, or built once under a lock."""
    key = environment_key(args)
    root = os.path.join(os.fspath(home), "pyenvs")
    final = os.path.join(root, key)
    cached = True
    if not os.path.isdir(final):
        os.makedirs(root, exist_ok=True)
        fd = _lock(os.path.join(root, f".{key}.lock"), key)
        try:
            if not os.path.isdir(final):
                from sagemaker_processing_provider.local.pyenv_build import build_once

                build_once(final, args, key, INSTALLED)
                cached = False
        finally:
            os.close(fd)
    with open(os.path.join(final, INSTALLED)) as fh:
        return final, fh.read().split(), cached


def record(folder: str, state: str = PYTHONPATH_FILE) -> None:
    """Put ``folder`` first in this host's overlay list (read by the shims)."""
    os.makedirs(os.path.dirname(state), exist_ok=True)
    current = ""
    if os.path.exists(state):
        with open(state) as fh:
            current = fh.read().strip()
    entries = [folder, *(p for p in current.split(os.pathsep) if p and p != folder)]
    tmp = f"{state}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        fh.write(os.pathsep.join(entries) + "\n")
    os.replace(tmp, state)


def install(pip_args: list[str], home: str | None = None) -> int:
    """``home``: the job store, given by the runtime's shim (jobs get no ``SM_PROCESSING_HOME``)."""
    home = os.path.expanduser(home or os.environ.get("SM_PROCESSING_HOME") or "~/.sm-processing")
    try:
        folder, pins, cached = ensure(uv_args(pip_args), home)
        record(folder)
    except InstallError as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    packages = ", ".join(pins) or "none: the project's environment has them all"
    if cached:
        print(f"Requirements: cached environment {os.path.basename(folder)} reused (packages: {packages})")
    else:
        print(f"Requirements: installed {packages} into {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    home = None
    if args[:1] == ["--home"] and len(args) > 1:
        home, args = args[1], args[2:]
    if not args or args[0] != "pip":
        print(
            "usage: python -m sagemaker_processing_provider.local.pyenv [--home DIR] pip install ...",
            file=sys.stderr,
        )
        return 2
    if args[1:2] == ["install"]:
        return install(args[2:], home)
    if args[1:2] == ["uninstall"]:
        print("ERROR: pip uninstall would change the project's environment; not done", file=sys.stderr)
        return 1
    os.execv(sys.executable, [sys.executable, "-m", "pip", *args[1:]])  # list, show, freeze: read only
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main())
