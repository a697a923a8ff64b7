"""The last step of a host's start, inside its namespaces: take the job's environment, drop the
runner's power, exec the job's command.

Run as ``python -I -S launch.py FD WHO -- COMMAND...`` (stdlib only, no site: ~10 ms). Everything
before it (``unshare``, ``sh``, ``mount``, ``timeout``) runs with the runner's own environment, so a job's
``Environment`` (``PATH``, ``LD_PRELOAD``, ...) never reaches a privileged program; the job's
environment arrives on file descriptor ``FD`` (``KEY=VALUE`` entries separated by NUL bytes; ``-`` for
none), not on a command line other users could read. ``WHO`` is ``uid:U:G`` (become user U, group G,
no supplementary groups, ``no_new_privs``: no setuid gain) or ``none`` (as is: the sandbox already
entered a user namespace of its own, or the shared fallback mode).
"""

from __future__ import annotations

import os
import sys

PR_SET_NO_NEW_PRIVS = 38


def read_env(fd: str) -> dict[bytes, bytes] | None:
    if fd == "-":
        return None
    with os.fdopen(int(fd), "rb") as handle:
        data = handle.read()
    env = {}
    for entry in data.split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep and key:
            env[key] = value
    return env


def become(uid: int, gid: int) -> None:
    import ctypes  # only here (~10 ms), and before the switch: the new user may not reach the stdlib

    libc = ctypes.CDLL(None, use_errno=True)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)  # every uid non-zero: the capabilities go too
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: launch.py FD WHO -- COMMAND...", file=sys.stderr)
        return 2
    fd, who, command = argv[0], argv[1], argv[3:]
    env = read_env(fd)
    try:
        if who.startswith("uid:"):
            _, uid, gid = who.split(":")
            become(int(uid), int(gid))
        elif who != "none":
            raise ValueError(f"unknown identity {who!r}")
    except (OSError, ValueError) as exc:
        print(f"sm-processing: cannot start the job's sandbox: {exc}", file=sys.stderr, flush=True)
        return 125
    try:
        if env is None:
            os.execvp(command[0], command)
        os.execvpe(command[0], command, env)
    except OSError as exc:
        print(f"sm-processing: cannot run {command[0]!r}: {exc.strerror}", file=sys.stderr, flush=True)
        return 126 if exc.errno == 13 else 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
