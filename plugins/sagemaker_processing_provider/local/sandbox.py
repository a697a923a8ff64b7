"""Run one "host" so that a script with hard-coded ``/opt/ml/...`` paths sees its own host folder.

Mode ``namespace`` (default on Linux when ``unshare`` works: bare metal, VMs, CI runners, and
containers that allow user namespaces or run privileged): each host runs in its own mount + PID
namespace (``unshare --mount --propagation private --pid --fork --kill-child --mount-proc``, plus
``--user --map-root-user`` when not root). Inside, ``hosts/algo-N/ml`` is bind-mounted on
``/opt/ml``; the rest of ``/opt`` is untouched (Java or Python may live there). If ``/opt/ml`` does
not exist and cannot be created, ``/opt`` is replaced *inside the namespace only* by a tmpfs into which
every original entry of ``/opt`` is bind-mounted back, plus an ``ml`` mount point. Two jobs (and two
hosts of one job) therefore never see each other's files, and when the host's first process exits or
the host is killed, the kernel kills everything left in its PID namespace, even daemonised
grandchildren.

Mode ``shared`` (fallback when namespaces are unavailable, e.g. unprivileged Docker/Podman without
user namespaces; force it with ``SM_PROCESSING_SANDBOX=shared``): under an exclusive lock
(``/tmp/sm-processing-opt-ml.lock``) that serialises every host of every job on this machine, the
host's files are moved into the real, empty ``/opt/ml`` and moved back when the host ends. A
non-empty ``/opt/ml`` is never touched (the job fails with a clear error), and ``/opt/ml`` itself is
never removed or replaced by a symlink, since namespace-mode jobs may be using it as a mount point.
Processes that leave the host's process group (``setsid``) are not tracked in this mode.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

MODE_ENV = "SM_PROCESSING_SANDBOX"
PROBED_ENV = "SM_PROCESSING_SANDBOX_PROBED"  # the creator's probe result, handed to its runners
OPT_ML = Path("/opt/ml")
SHARED_LOCK = Path("/tmp/sm-processing-opt-ml.lock")

# $1 host ml folder, $2 working directory, $3 stash for the real /opt (only used without /opt/ml).
# The command runs as a child of sh (not exec'd): sh is PID 1 of the namespace and ignores the
# SIGTERM the runner sends to the process group, while the command gets it and can clean up.
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
shift 3
set +e
"$@"
rc=$?
exit $rc
"""


def _unshare_prefix() -> list[str]:
    cmd = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        cmd += ["--user", "--map-root-user"]
    return cmd + ["--pid", "--fork", "--kill-child", "--mount-proc", "--"]


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
    unshare = shutil.which("unshare")
    ok = False
    if unshare:
        probe = subprocess.run(
            [*_unshare_prefix(), "true"],  # --mount-proc already needs the mount rights we use
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
        "hosts and jobs on this machine run one at a time."
    )
    return "shared"


def ensure_opt_ml() -> None:
    """Create /opt/ml if possible, so namespaces only need a bind mount (cheaper than the tmpfs trick)."""
    with suppress(OSError):
        OPT_ML.mkdir(exist_ok=True)


def start(
    argv: list[str], ml: Path, work: Path, env: dict[str, str], stdout: IO[bytes] | int
) -> subprocess.Popen[bytes]:
    """Start a host in its own session (so its process group can be signalled as a whole)."""
    if mode() == "namespace":
        stash = ml.parent / ".opt"
        cmd = [*_unshare_prefix(), "/bin/sh", "-c", _INSIDE, "sm-host", str(ml), str(work), str(stash), *argv]
        cwd = work
    else:
        cmd, cwd = argv, work
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _move_contents(src: Path, dst: Path) -> None:
    for entry in list(src.iterdir()):
        shutil.move(str(entry), str(dst / entry.name))


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
