"""Run one "host" so that a script with hard-coded ``/opt/ml/...`` paths sees its own host folder,
and only that: nothing of the job store, no other job, no power over this machine.

Mode ``namespace`` (default on Linux when ``unshare`` works: bare metal, VMs, CI runners, and
containers that allow user namespaces or run privileged): each host runs in its own mount + PID
namespace (``unshare --mount --propagation private --pid --fork --kill-child --mount-proc``, plus
``--user --map-root-user`` when not root). Inside, ``hosts/algo-N/ml`` is bind-mounted on ``/opt/ml``;
the rest of ``/opt`` is untouched (Java or Python may live there). If ``/opt/ml`` does not exist and
cannot be created, ``/opt`` is replaced *inside the namespace only* by a tmpfs into which every
original entry of ``/opt`` is bind-mounted back, plus an ``ml`` mount point. Then the store's
``jobs/`` folder is covered by an empty tmpfs (every job's request, state, logs and ``/opt/ml``
disappear), with only this host's working directory mounted back at its path (and, for a job of
several hosts, the folder they share to meet: a Spark cluster's rendezvous). Last, the runner's
power is dropped (``identity.py``: an unprivileged uid, or ``unshare --user`` into a user namespace
of its own, where the mounts above are locked and cannot be removed) and ``launch.py`` takes the
job's environment from a file descriptor and execs the command: every program before it runs with
the runner's environment, never the job's ``PATH`` or ``LD_PRELOAD``.

Life and death: the runner starts each host through ``setpriv --pdeathsig KILL``, and ``unshare
--kill-child`` kills the namespace's first process when ``unshare`` dies, so the kernel kills every
process of the host (daemonised grandchildren too) when the runner dies, however it dies. With
``MaxRuntimeInSeconds``, ``timeout -s KILL`` inside the namespace ends the host a few seconds after the
limit even when the runner is blocked.

Mode ``shared`` (fallback when namespaces are unavailable, e.g. unprivileged Docker/Podman without
user namespaces; force it with ``SM_PROCESSING_SANDBOX=shared``): under an exclusive lock
(``/tmp/sm-processing-opt-ml.lock``) that serialises every host of every job on this machine, the
host's files are moved into the real, empty ``/opt/ml`` and moved back when the host ends. A
non-empty ``/opt/ml`` is never touched (the job fails with a clear error), and ``/opt/ml`` itself is
never removed or replaced by a symlink, since namespace-mode jobs may be using it as a mount point.
No isolation holds in this mode beyond a clean environment: the job runs as the runner's user and
sees this machine's files (the job store too); processes that leave the host's process group
(``setsid``) are not tracked.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import IO, NamedTuple

from sagemaker_processing_provider.local.identity import Identity

log = logging.getLogger(__name__)

MODE_ENV = "SM_PROCESSING_SANDBOX"
PROBED_ENV = "SM_PROCESSING_SANDBOX_PROBED"  # the creator's probe result, handed to its runners
OPT_ML = Path("/opt/ml")
SHARED_LOCK = Path("/tmp/sm-processing-opt-ml.lock")
LAUNCHER = str(Path(__file__).with_name("launch.py"))

# $1 host ml folder, $2 working directory, $3 stash for the real /opt (only used without /opt/ml),
# $4 folder to hide (the store's jobs/, or ""), $5 a folder under it to keep (or ""), $6 seconds before
# the backstop kill (or ""); then the launcher's argv. The command runs as a child of sh (not exec'd): sh is PID 1 of the namespace and
# ignores the SIGTERM the runner sends to the process group, while the command gets it and can clean
# up; when sh exits, the kernel kills whatever is left in the namespace. `mount -c --bind .` binds the
# real working directory (the shell's cwd) after the tmpfs covered its path; the folder to keep is
# opened as fd 8 before the cover and bound back through /proc/self/fd/8 (-c: not resolved by path).
_INSIDE = r"""
set -e
if [ -L /opt/ml ] || [ ! -d /opt/ml ]; then
  mkdir -p "$3"
  mount --rbind /opt "$3"
  mount -t tmpfs -o mode=755 sm-opt /opt
  for e in "$3"/* "$3"/.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n="/opt/${e##*/}"
    [ "$n" = /opt/ml ] && continue
    if [ -L "$e" ]; then ln -s "$(readlink "$e")" "$n"; continue; fi
    if [ -d "$e" ]; then mkdir "$n"; else : > "$n"; fi
    mount --rbind "$e" "$n"
  done
  mkdir /opt/ml
fi
mount --bind "$1" /opt/ml
cd "$2"
if [ -n "$4" ]; then
  if [ -n "$5" ]; then exec 8<"$5"; fi
  mount -t tmpfs -o mode=755,size=1m sm-store "$4"
  mkdir -p "$2"
  mount -c --bind . "$2"
  cd "$2"
  if [ -n "$5" ]; then mkdir -p "$5"; mount -c --bind /proc/self/fd/8 "$5"; exec 8<&-; fi
fi
backstop=$6
shift 6
set +e
if [ -n "$backstop" ]; then timeout --foreground -s KILL "$backstop" "$@"; else "$@"; fi
exit $?
"""


class HostLaunch(NamedTuple):
    """What a host needs to start: its command, folders, environment, identity and limits."""

    argv: list[str]
    ml: Path
    work: Path
    env: dict[str, str]
    who: Identity
    hide: Path | None = None  # the store's jobs/ folder, covered inside the namespace
    keep: Path | None = None  # a folder of the job all its hosts share under that cover (Spark's rendezvous)
    backstop: float | None = None  # seconds after which the host is killed whatever the runner does


def _unshare_prefix() -> list[str]:
    cmd = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        cmd += ["--user", "--map-root-user"]
    return cmd + ["--pid", "--fork", "--kill-child", "--mount-proc", "--"]


def _death_prefix() -> list[str]:
    """The host dies with the runner (the parent-death signal survives the exec of unshare)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def _launcher(fd: int | None, who: Identity, argv: list[str]) -> list[str]:
    fd_arg = "-" if fd is None else str(fd)
    return [*who.prefix, sys.executable, "-I", "-S", LAUNCHER, fd_arg, who.launch_arg, "--", *argv]


@cache
def mode() -> str:
    """``namespace`` or ``shared`` (see the module docstring); probed once per process."""
    from sagemaker_processing_provider.errors import PrerequisiteError

    wanted = os.environ.get(MODE_ENV, "auto").strip().lower()
    probed = os.environ.get(PROBED_ENV)
    if wanted in ("auto", "namespace") and probed in ("namespace", "shared"):
        return probed
    if wanted == "shared":
        return "shared"
    if wanted not in ("auto", "namespace"):
        raise PrerequisiteError(f"{MODE_ENV} must be auto, namespace or shared, not {wanted!r}")
    ok = False
    if shutil.which("unshare"):
        probe = subprocess.run(  # --mount-proc needs the mount rights we use; the launcher, a user namespace
            [*_unshare_prefix(), *_launcher(None, Identity("userns", 0, 0), ["true"])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        ok = probe.returncode == 0
    if ok:
        return "namespace"
    if wanted == "namespace":
        raise PrerequisiteError(
            f"{MODE_ENV}=namespace but `unshare --mount --pid` does not work here "
            "(util-linux missing, or user namespaces disabled)"
        )
    log.warning(
        "Mount namespaces are unavailable (unshare failed); falling back to the shared /opt/ml mode: "
        "hosts and jobs on this machine run one at a time, without isolation."
    )
    return "shared"


def ensure_opt_ml() -> None:
    """Create /opt/ml if possible, so namespaces only need a bind mount (cheaper than the tmpfs trick)."""
    with suppress(OSError):
        OPT_ML.mkdir(exist_ok=True)


def _env_file(env: dict[str, str]) -> IO[bytes]:
    """The job's environment in an anonymous memory file, handed over as a file descriptor."""
    try:
        handle = os.fdopen(os.memfd_create("sm-job-env"), "w+b")
    except (AttributeError, OSError):
        handle = tempfile.TemporaryFile()  # noqa: SIM115 (returned open; closed by the caller)
    handle.write(b"\0".join(f"{k}={v}".encode("utf-8", "surrogateescape") for k, v in env.items()))
    handle.flush()
    handle.seek(0)
    return handle


def start(launch: HostLaunch, stdout: IO[bytes] | int) -> subprocess.Popen[bytes]:
    """Start a host in its own session (so its process group can be signalled as a whole)."""
    backstop = [] if launch.backstop is None else [f"{max(1, int(launch.backstop + 0.999))}"]
    with _env_file(launch.env) as env_file:
        fd = env_file.fileno()
        inner = _launcher(fd, launch.who, launch.argv)
        if mode() == "namespace":
            stash = launch.ml.parent / ".opt"
            hide = str(launch.hide) if launch.hide else ""
            keep = str(launch.keep) if launch.hide and launch.keep else ""
            args = [str(launch.ml), str(launch.work), str(stash), hide, keep, *(backstop or [""])]
            cmd = [*_death_prefix(), *_unshare_prefix(), "/bin/sh", "-c", _INSIDE, "sm-host", *args, *inner]
        else:
            timeout = ["timeout", "--foreground", "-s", "KILL", *backstop] if backstop else []
            cmd = [*_death_prefix(), *timeout, *inner]
        return subprocess.Popen(
            cmd,
            cwd=launch.work,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
            start_new_session=True,
        )


def _move_contents(src: Path, dst: Path) -> None:
    """Move a folder's entries (a job's files: symlinks moved as links, FIFOs and devices dropped)."""
    for entry in list(src.iterdir()):
        target = dst / entry.name
        try:
            os.rename(entry, target)
            continue
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        if entry.is_symlink():
            os.symlink(os.readlink(entry), target)
            entry.unlink()
        elif entry.is_dir():
            target.mkdir()
            _move_contents(entry, target)
            entry.rmdir()
        elif entry.is_file():
            shutil.copy2(entry, target)
            entry.unlink()
        else:
            log.warning("dropping %s: not a regular file, folder or symlink", entry)
            entry.unlink()


@contextmanager
def shared_opt_ml(ml: Path) -> Iterator[None]:
    """Shared mode: under the machine-wide lock, move the host's files into the real (empty) /opt/ml
    and back out when the host ends. /opt/ml itself is never removed or replaced: namespace-mode jobs
    may have it as a mount point at the same time."""
    from sagemaker_processing_provider.errors import PrerequisiteError

    with open(SHARED_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            try:
                OPT_ML.mkdir(exist_ok=True)
            except OSError as exc:
                raise PrerequisiteError(
                    f"cannot create {OPT_ML} ({exc}); the shared sandbox needs it"
                ) from exc
            if OPT_ML.is_symlink() or any(OPT_ML.iterdir()):
                raise PrerequisiteError(
                    f"{OPT_ML} is not an empty directory; the shared sandbox mode will not touch it. "
                    "Empty it, or run where user namespaces work (see local/sandbox.py)."
                )
            _move_contents(ml, OPT_ML)
            try:
                yield
            finally:
                _move_contents(OPT_ML, ml)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
