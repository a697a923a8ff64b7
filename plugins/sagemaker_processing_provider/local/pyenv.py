"""``pip install`` inside a local job: installed once into a cached environment layered over the project's.

In the image, ``runproc.sh`` (``request/bundle.py``) or a script runs ``python3 -m pip install -r
requirements.txt`` and pip changes the container's Python. Locally that Python is this project's
environment, shared by every job, so the runtime's shims (``local/runtimes.py``) send ``pip install``
here instead (``python -m sagemaker_processing_provider.local.pyenv pip install ...``):

1. **Key**: sha256 of this Python's version, the project environment's installed distributions, the
   pip arguments and the content of the requirement files they name (``-r``/``-c``, nested too).
2. **Cache hit**: ``<home>/pyenvs/<key>`` exists (it appears complete, by an atomic rename): nothing
   to install; a second job with the same requirements pays one small Python start.
3. **Miss**: under a per-key file lock (two jobs installing the same key wait for each other, and the
   second finds the first's result), ``uv``'s dry run against the project's environment says what pip
   would change there (missing packages, other versions); only those are installed into a temporary
   ``--target`` folder (``--excludes`` the rest, so scikit-learn/pandas are not reinstalled), which is
   then renamed into place.
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
import json
import os
import sys
import sysconfig
import time
from pathlib import Path

# subprocess, shutil and tempfile are imported on a cache miss only: a hit is part of every such job's start.

HOST_STATE = Path("/opt/ml/.sm-processing")
PYTHONPATH_FILE = HOST_STATE / "pythonpath"
KEY_LENGTH = 24
META = "sm-pyenv.json"
# pip options that mean nothing to uv (or to an environment the runtime chooses): dropped.
_DROPPED = {
    "--no-cache-dir", "--disable-pip-version-check", "--no-warn-script-location", "--user", "--no-input",
    "--isolated", "--prefer-binary", "--no-warn-conflicts", "--no-color",
}  # fmt: skip
_DROPPED_WITH_VALUE = {"--root-user-action", "--progress-bar", "--cache-dir", "--timeout", "--retries"}
_REFUSED = {"--target", "-t", "--prefix", "--root", "--editable", "-e"}
_FILE_OPTIONS = {"-r", "--requirement", "-c", "--constraint"}


class InstallError(Exception):
    """pip arguments the runtime cannot honour, or uv failing; the message is one line for the job."""


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


def _files(args: list[str]) -> list[Path]:
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
            found.append(Path(value))
        i += 1
    return found


def _file_digests(files: list[Path], seen: set[Path] | None = None) -> list[tuple[str, str]]:
    """Each named file's sha256, and of the files it includes with ``-r``/``-c`` (relative to it)."""
    seen = set() if seen is None else seen
    digests = []
    for path in files:
        resolved = path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        try:
            data = resolved.read_bytes()
        except OSError as exc:
            raise InstallError(f"cannot read {path}: {exc.strerror}") from exc
        digests.append((str(path), hashlib.sha256(data).hexdigest()))
        lines = data.decode(errors="replace").splitlines()
        nested = [arg for line in lines for arg in line.split("#", 1)[0].split()]
        digests += _file_digests([resolved.parent / p for p in _files(nested)], seen)
    return digests


def base_environment() -> list[str]:
    """What the overlay is layered on: this Python and the distributions installed in its environment."""
    dirs = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    names = sorted(n for d in dirs if os.path.isdir(d) for n in os.listdir(d) if n.endswith(".dist-info"))
    return [sys.version, sys.prefix, *names]


def environment_key(args: list[str]) -> str:
    material = {"base": base_environment(), "args": args, "files": _file_digests(_files(args))}
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()[:KEY_LENGTH]


def _uv() -> str:
    """The ``uv`` binary: the ``uv`` package's, else the one next to this Python, else on ``PATH``."""
    import shutil

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


def _run_uv(args: list[str]) -> str:
    import subprocess

    proc = subprocess.run([_uv(), "pip", "install", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise InstallError(_uv_message(proc.stderr) or f"uv exited with {proc.returncode}")
    return proc.stdout


def _uv_message(stderr: str) -> str:
    """uv's error (``error: No solution found ...`` + ``cause: Because ...``) as one line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith(("×", "error:"))), len(lines) - 3)
    parts = [line.lstrip("×╰─▶│├ ").removeprefix("error:").removeprefix("cause:") for line in lines[start:]]
    return ": ".join(part.strip() for part in parts if part.strip())


def _changes(args: list[str]) -> list[str]:
    """``name==version`` pip would install into the project's environment (dry run, nothing changes)."""
    out = _run_uv(["--dry-run", "--output-format", "json", "--python", sys.executable, *args])
    changes = json.loads(out).get("changes", [])
    return [f"{c['name']}=={c['version']}" for c in changes if c.get("action") == "installed"]


def _build(folder: Path, args: list[str]) -> list[str]:
    """Install into ``folder`` what the project's environment lacks; return it."""
    wanted = _changes(args)
    if wanted:
        names = {w.split("==")[0].lower().replace("_", "-") for w in wanted}
        from importlib.metadata import distributions

        keep = sorted({d.metadata["Name"] for d in distributions() if d.metadata["Name"]})
        excludes = folder / ".excludes.txt"
        excludes.write_text("\n".join(n for n in keep if n.lower().replace("_", "-") not in names))
        _run_uv(["--python", sys.executable, "--target", str(folder), "--excludes", str(excludes), *args])
        excludes.unlink()
    return wanted


def _lock(path: Path, key: str) -> int:
    """An exclusive lock on ``path`` (held until the returned descriptor is closed)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"Waiting for another job installing the same requirements ({key})", flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def ensure(args: list[str], home: Path) -> tuple[Path, dict]:
    """The overlay for these arguments: found, or built once (lock + temp folder + atomic rename)."""
    key = environment_key(args)
    root = home / "pyenvs"
    final = root / key
    if not final.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        fd = _lock(root / f".{key}.lock", key)
        try:
            if not final.is_dir():
                return final, _build_once(final, args, key)
        finally:
            os.close(fd)
    return final, {**json.loads((final / META).read_text()), "cached": True}


def _build_once(final: Path, args: list[str], key: str) -> dict:
    import shutil
    import tempfile

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=final.parent))
    try:
        installed = _build(tmp, args)
        meta = {"key": key, "args": args, "installed": installed, "python": sys.version}
        meta["seconds"] = round(time.monotonic() - started, 2)
        (tmp / META).write_text(json.dumps(meta, indent=1))
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {**meta, "cached": False}


def record(folder: Path, state: Path = PYTHONPATH_FILE) -> None:
    """Put ``folder`` first in this host's overlay list (read by the shims)."""
    state.parent.mkdir(parents=True, exist_ok=True)
    current = state.read_text().strip() if state.exists() else ""
    entries = [str(folder), *(p for p in current.split(os.pathsep) if p and p != str(folder))]
    tmp = state.with_name(f".{state.name}.{os.getpid()}")
    tmp.write_text(os.pathsep.join(entries) + "\n")
    os.replace(tmp, state)


def install(pip_args: list[str]) -> int:
    home = Path(os.environ.get("SM_PROCESSING_HOME") or "~/.sm-processing").expanduser()
    try:
        folder, meta = ensure(uv_args(pip_args), home)
        record(folder)
    except InstallError as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    packages = ", ".join(meta["installed"]) or "none: the project's environment has them all"
    if meta["cached"]:
        print(f"Requirements: cached environment {meta['key']} reused (packages: {packages})", flush=True)
    else:
        print(f"Requirements: installed {packages} in {meta['seconds']} s into {folder}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "pip":
        print("usage: python -m sagemaker_processing_provider.local.pyenv pip install ...", file=sys.stderr)
        return 2
    if args[1:2] == ["install"]:
        return install(args[2:])
    if args[1:2] == ["uninstall"]:
        print("ERROR: pip uninstall would change the project's environment; not done", file=sys.stderr)
        return 1
    os.execv(sys.executable, [sys.executable, "-m", "pip", *args[1:]])  # list, show, freeze: read only
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main())
