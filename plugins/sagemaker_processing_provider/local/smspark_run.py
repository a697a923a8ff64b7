"""Running the spark-submit that ``smspark_submit`` built: process tree, signals, errors, event logs.

spark-submit stays in the host's process group, so the backend's group-wide SIGTERM/SIGKILL reaches
the whole tree (the JVM and, for PySpark, the Python driver and workers) in every sandbox mode. A
SIGTERM/SIGINT sent to this process alone is forwarded to all its descendants, with SIGKILL after a
grace period. We are the tree's child subreaper, so processes orphaned by the JVM come back to us
and are killed when spark-submit ends; the JVM gets ``PR_SET_PDEATHSIG`` so it dies with us even if
we are killed outright. stdout and stderr are copied through line by line and the last error line
goes into the failure message, so ``ExitMessage`` says why the app failed, not only that it did.

Event logs go to a staging folder in the work dir and are copied into ``--local-spark-event-logs-dir``
every few seconds and at the end (``.inprogress`` stripped, as the container's publisher does;
Hadoop's ``.crc`` files left out): the backend's ``Continuous`` output never sees a file that is later
renamed or half-written.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

from sagemaker_processing_provider.local.smspark_options import SmsparkError, SparkCommand

log = logging.getLogger("smspark-submit")

STOP_GRACE_SECONDS = 10.0
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
PUBLISH_INTERVAL_SECONDS = 5.0
# A Python/JVM exception line, or spark-submit's own "Error: Failed to load class ..." style.
_ERROR_LINE = re.compile(
    r'^(?:(?:Exception in thread "[^"]*" )?[A-Za-z_][\w.$]*(?:Error|Exception)\b(?::.*)?|Error: .+)$'
)


def last_error_line(lines: list[str]) -> str | None:
    """The last line that names an error (a Python traceback's tail, a JVM's uncaught exception...)."""
    for line in reversed(lines):
        line = line.strip()
        if _ERROR_LINE.match(line):
            return line[:500]
    return None


def _event_log_files(staging: Path) -> list[Path]:
    """Event log files, without Hadoop's ``.crc`` side files (stale once copied mid-write)."""
    return sorted(p for p in staging.rglob("*") if p.is_file() and not p.name.endswith(".crc"))


class EventLogPublisher(threading.Thread):
    """Copies finished and in-progress event logs from the staging folder to the job's folder."""

    def __init__(self, staging: Path, dest: Path) -> None:
        super().__init__(name="spark-event-log-publisher", daemon=True)
        self.staging, self.dest = staging, dest
        self._stop_event = threading.Event()
        self._copied: dict[Path, tuple[int, int]] = {}

    def run(self) -> None:
        while not self._stop_event.wait(PUBLISH_INTERVAL_SECONDS):
            self.sync()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.sync()

    def sync(self) -> None:
        self.dest.mkdir(parents=True, exist_ok=True)
        for path in _event_log_files(self.staging):
            rel = path.relative_to(self.staging)
            target = self.dest / rel.parent / rel.name.removesuffix(".inprogress")
            try:
                stat = path.stat()
                stamp = (stat.st_size, stat.st_mtime_ns)
                if self._copied.get(target) == stamp:
                    continue
                _atomic_copy(path, target, self.staging.parent)
                self._copied[target] = stamp
            except FileNotFoundError:
                continue  # renamed by Spark (.inprogress -> final) while we looked; the next sync gets it


def _atomic_copy(src: Path, target: Path, scratch: Path) -> None:
    """Copy beside the work dir then rename, so an uploader never reads a half-copied file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = scratch / f".event-log-copy-{os.getpid()}"
    shutil.copyfile(src, tmp)
    try:
        os.replace(tmp, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        near = target.with_name(f".{target.name}.tmp")
        shutil.move(tmp, near)
        os.replace(near, target)


def upload_event_logs(staging: Path, uri: str) -> None:
    """``--spark-event-logs-s3-uri``: the container writes there through s3a; we upload at the end."""
    import boto3

    parsed = urlparse(uri)
    if parsed.scheme not in ("s3", "s3a") or not parsed.netloc:
        log.warning("--spark-event-logs-s3-uri %s is not an s3:// URI; event logs stay in %s", uri, staging)
        return
    prefix = parsed.path.lstrip("/")
    client = boto3.client("s3")
    try:
        for path in _event_log_files(staging):
            rel = path.relative_to(staging).as_posix().removesuffix(".inprogress")
            key = f"{prefix.rstrip('/')}/{rel}" if prefix else rel
            client.upload_file(str(path), parsed.netloc, key)
            log.info("uploaded event log s3://%s/%s", parsed.netloc, key)
    except Exception as exc:  # event logs are diagnostics: never fail a finished app for them
        log.warning("could not upload Spark event logs to %s: %s", uri, exc)


def _prctl(option: int, value: int) -> None:
    """Linux prctl; a no-op where it does not exist (the tree is then only reached by signals)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value)
    except (OSError, AttributeError):
        pass


def become_subreaper() -> None:
    """Orphans of our descendants (e.g. an executor whose worker JVM was killed) come back to us."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent() -> None:
    """In the child before exec: SIGKILL it if smspark-submit dies (PR_SET_PDEATHSIG)."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def descendants(root: int) -> list[int]:
    """Pids below ``root`` (from /proc), children first; orphans come back to us as subreaper."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(parents.get(root, []))
    while todo:
        pid = todo.pop(0)
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def signal_tree(sig: int) -> int:
    """Send ``sig`` to every descendant of this process; return how many there were."""
    pids = descendants(os.getpid())
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    return len(pids)


def _tee(stream: IO[bytes], out: IO[bytes], tail: deque[str]) -> None:
    for raw in iter(stream.readline, b""):
        out.write(raw)
        out.flush()
        tail.append(raw.decode("utf-8", "replace").rstrip("\n"))
    stream.close()


def end_tree(sig: int = signal.SIGTERM) -> int:
    """``sig`` to every descendant now, SIGKILL to those left after a grace period; how many there were."""
    count = signal_tree(sig)
    timer = threading.Timer(STOP_GRACE_SECONDS, signal_tree, (signal.SIGKILL,))
    timer.daemon = True
    timer.start()
    return count


def _install_forwarding() -> dict[int, object]:
    def forward(signum: int, _frame: object) -> None:
        count = end_tree(signum)
        log.info("received signal %s: forwarded to the %d processes of spark-submit", signum, count)

    return {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}


def reap_leftovers() -> None:
    """Kill what the app left behind (e.g. a daemon it spawned), so its pipes close and nothing leaks."""
    left = signal_tree(signal.SIGKILL)
    if left:
        log.warning("killed %d process(es) left behind by spark-submit", left)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def run(
    command: SparkCommand,
    on_start: Callable[[], None] | None = None,
    on_exit: Callable[[], None] | None = None,
) -> int:
    """Run spark-submit to the end; 0 on success, else SmsparkError with spark-submit's exit code.

    The local cluster's hooks: ``on_start`` runs once spark-submit is started (its watcher may then end
    the tree), ``on_exit`` as soon as it has ended, before what it left behind is killed."""
    for folder in command.dirs:
        Path(folder).mkdir(parents=True, exist_ok=True)
    for path, content in command.files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(content)
    log.info("running spark submit command: %s", shlex.join(command.argv))
    become_subreaper()
    proc = subprocess.Popen(
        command.argv,
        env=command.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=die_with_parent,
    )
    previous = _install_forwarding()
    if on_start:
        on_start()
    tail: deque[str] = deque(maxlen=300)
    tees = [  # PySpark's driver writes its traceback to the JVM's stdout: watch both streams
        threading.Thread(target=_tee, args=(stream, out, tail), daemon=True)
        for stream, out in ((proc.stdout, sys.stdout.buffer), (proc.stderr, sys.stderr.buffer))
    ]
    for tee in tees:
        tee.start()
    staging = Path(command.event_logs_staging)
    publisher = EventLogPublisher(staging, Path(command.event_logs_dir)) if command.event_logs_dir else None
    if publisher:
        publisher.start()
    try:
        code = proc.wait()
    finally:
        if on_exit:
            on_exit()
        reap_leftovers()
        for tee in tees:
            tee.join(timeout=10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        if publisher:
            publisher.stop()
    if command.event_logs_s3_uri:
        upload_event_logs(staging, command.event_logs_s3_uri)
    if code != 0:
        exit_code = code if code > 0 else 128 - code
        cause = subprocess.CalledProcessError(exit_code, f"spark-submit {command.app}")
        detail = last_error_line(list(tail))
        raise SmsparkError(
            "spark failed with a non-zero exit code", cause, exit_code=exit_code, detail=detail
        )
    log.info("spark submit was successful. primary node exiting.")
    return 0
