"""Who a job runs as: never with root's power over the host when this machine allows it.

``SM_PROCESSING_JOB_USER`` (namespace mode only):

- ``auto`` (default): a runner running as root runs jobs as uid/gid 65534 (``nobody``) when that user
  can reach everything a job needs (the runtime's Python, this package, the runtimes' shims, the job
  store's folder); otherwise, and for a runner that is not root, the job keeps the runner's user
  inside a user namespace of its own (no capability over the host; see ``launch.py``), and the job
  log says why;
- ``root`` (or ``self``): always the latter;
- a user name or uid: that user (the runner must be root).

The shared fallback mode has no namespaces: jobs run as the runner's user.
"""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path
from typing import NamedTuple

JOB_USER_ENV = "SM_PROCESSING_JOB_USER"
NOBODY = 65534


class Identity(NamedTuple):
    """``uid`` (drop to uid/gid), ``userns`` (the runner's user without host capabilities) or ``none``."""

    kind: str
    uid: int
    gid: int

    @property
    def launch_arg(self) -> str:
        return f"uid:{self.uid}:{self.gid}" if self.kind == "uid" else "none"

    @property
    def prefix(self) -> list[str]:
        """``userns``: the current user mapped to 0 in a user namespace of its own (no capability
        over the host; the mounts made before it are locked, so it cannot remove them)."""
        return ["unshare", "--user", "--map-root-user", "--"] if self.kind == "userns" else []

    def describe(self) -> str:
        if self.kind == "uid":
            return f"uid {self.uid} (unprivileged)"
        who = "root" if self.uid == 0 else f"uid {self.uid}"
        if self.kind == "userns":
            return f"{who} in a user namespace of its own (no capability over the host)"
        return f"{who} (shared mode: no namespaces)"


def _user(value: str) -> tuple[int, int]:
    if value.isdigit():
        uid = int(value)
        try:
            return uid, pwd.getpwuid(uid).pw_gid
        except KeyError:
            return uid, uid
    try:
        entry = pwd.getpwnam(value)
    except KeyError as exc:
        from sagemaker_processing_provider.errors import PrerequisiteError

        raise PrerequisiteError(f"{JOB_USER_ENV}={value!r}: no such user") from exc
    return entry.pw_uid, entry.pw_gid


def reachable_by(path: Path, uid: int, gid: int, need: int) -> bool:
    """Whether ``uid``/``gid`` (no other group) may search every folder up to ``path`` and ``need`` it."""
    try:
        chain = [*reversed(Path(os.path.realpath(path)).parents), Path(os.path.realpath(path))]
        for i, part in enumerate(chain):
            st = os.stat(part)
            want = os.X_OK if i < len(chain) - 1 else need
            if not _allows(st, uid, gid, want):
                return False
    except OSError:
        return False
    return True


def _allows(st: os.stat_result, uid: int, gid: int, want: int) -> bool:
    if st.st_uid == uid:
        shift = 6
    elif st.st_gid == gid:
        shift = 3
    else:
        shift = 0
    bits = (st.st_mode >> shift) & 0o7
    return all(bits & flag for flag in (os.R_OK, os.W_OK, os.X_OK) if want & flag)


def needed_paths(home: Path, shims: Path) -> list[tuple[Path, int]]:
    """What a job reaches outside its /opt/ml: the runtime's Python (and its libraries), the package, the shims."""
    libs = Path(os.__file__).parent
    return [
        (Path(sys.executable), os.R_OK | os.X_OK),
        (libs, os.R_OK | os.X_OK),
        (Path(__file__).resolve().parents[2], os.R_OK | os.X_OK),
        (shims, os.R_OK | os.X_OK),
        (home, os.X_OK),
    ]


def choose(mode: str, home: Path, shims: Path) -> tuple[Identity, str | None]:
    """The job's identity for sandbox ``mode``, and a note for the job log when root could not be left."""
    uid, gid = os.getuid(), os.getgid()
    if mode != "namespace":
        return Identity("none", uid, gid), None
    wanted = os.environ.get(JOB_USER_ENV, "auto").strip() or "auto"
    if wanted in ("root", "self") or os.geteuid() != 0:
        return Identity("userns", uid, gid), None
    if wanted != "auto":
        juid, jgid = _user(wanted)
        return Identity("uid", juid, jgid), None
    for path, need in needed_paths(home, shims):
        if not reachable_by(path, NOBODY, NOBODY, need):
            note = (
                f"not as uid {NOBODY}: it cannot reach {path} (a folder on the way is closed to other "
                f"users; see {JOB_USER_ENV} in local/identity.py)"
            )
            return Identity("userns", uid, gid), note
    return Identity("uid", NOBODY, NOBODY), None


def hand_over(folder: Path, who: Identity) -> None:
    """Give a host's folders to an unprivileged job user (symlinks themselves, never their targets)."""
    if who.kind != "uid":
        return
    os.lchown(folder, who.uid, who.gid)
    for root, dirs, files in os.walk(folder):  # os.walk does not descend into symlinked folders
        for name in dirs + files:
            os.lchown(os.path.join(root, name), who.uid, who.gid)
