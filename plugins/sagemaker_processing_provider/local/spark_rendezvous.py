"""Where the hosts of a local Spark cluster meet: files in the job's folder, and locks.

Hosts share neither ``/opt/ml`` (one mount namespace each) nor PIDs (one PID namespace each), but they
share the file system and the network. The runner gives every host the job's folder
(``SM_PROCESSING_JOB_DIR``, only when its hosts run side by side: namespace mode); the cluster's files
live in its ``spark-cluster/``, the one folder of the job the sandbox leaves visible to them:

- ``<host>.alive``: an ``flock`` each host's ``smspark-submit`` holds for its whole life (locked, then
  renamed into place). The kernel drops it when the process dies, however it dies, so hosts see a peer
  vanish without PIDs or heartbeats.
- ``master.json``: the master's URL (``spark://127.0.0.1:<port the master picked>``), once it is ALIVE.
- ``<host>.json``: a host's state: ``ready`` (its worker registered), ``failed`` (why), ``lost`` (its
  worker died while the job ran).
- ``end.json``: the primary's "the app is over": the other hosts stop their worker and exit 0.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sagemaker_processing_provider.local.store import read_json, write_json_atomic

TIMEOUT_ENV = "SM_PROCESSING_SPARK_CLUSTER_TIMEOUT"
JOB_DIR_ENV = "SM_PROCESSING_JOB_DIR"  # set by the runner only for hosts that can meet
POLL_SECONDS = 0.2


def meeting_folder(job_dir: Path) -> Path:
    """The only part of the job's folder its hosts see besides their own (the sandbox binds it back)."""
    return job_dir / "spark-cluster"


class SparkClusterError(RuntimeError):
    """The local cluster could not start, or a host broke the rendezvous; the message names the host."""


class Rendezvous:
    """The job's ``spark-cluster/`` folder: who is alive, the master's URL, each host's state, the end."""

    def __init__(self, folder: Path, hosts: tuple[str, ...]) -> None:
        self.folder, self.hosts, self.primary = folder, hosts, sorted(hosts)[0]
        self._lock: IO[str] | None = None

    def join(self, host: str) -> None:
        """Hold ``<host>.alive`` until this process ends (or ``leave``)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{host}.alive.{uuid.uuid4().hex}"
        lock = open(tmp, "w")  # noqa: SIM115 (held for the process's life)
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.replace(tmp, self.folder / f"{host}.alive")
        self._lock = lock

    def leave(self) -> None:
        if self._lock:
            self._lock.close()
            self._lock = None

    def gone(self, host: str) -> bool:
        """True once ``host`` has joined and its process has ended."""
        try:
            with open(self.folder / f"{host}.alive") as lock:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return True
        except (FileNotFoundError, BlockingIOError):
            return False

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            return read_json(self.folder / name)
        except FileNotFoundError:
            return None

    def set_state(self, host: str, state: str, **info: Any) -> None:
        write_json_atomic(self.folder / f"{host}.json", {"state": state, **info})

    def state(self, host: str) -> dict[str, Any]:
        return self._read(f"{host}.json") or {"state": "starting"}

    def publish_master(self, url: str) -> None:
        write_json_atomic(self.folder / "master.json", {"url": url})

    def announce_end(self) -> None:
        write_json_atomic(self.folder / "end.json", {"ended": time.time()})

    def ended(self) -> bool:
        return (self.folder / "end.json").exists() or self.gone(self.primary)

    def master_url(self, deadline: float, timeout: float) -> str | None:
        """The published URL; None if the primary ended first."""
        while True:
            data = self._read("master.json")
            if data:
                return str(data["url"])
            if self.ended():
                return None
            if time.monotonic() > deadline:
                raise SparkClusterError(
                    f"the primary {self.primary} published no Spark master URL within {timeout:g} s "
                    f"(in {self.folder}); see its log lines"
                )
            time.sleep(POLL_SECONDS)

    def wait_for_workers(
        self, master_exit: Callable[[], int | None], deadline: float, timeout: float
    ) -> None:
        """Until every host's worker is registered; fail at once if a host failed or ended first."""
        while True:
            pending = []
            for host in sorted(self.hosts):
                state = self.state(host)
                if state["state"] == "failed":
                    raise SparkClusterError(f"the Spark worker of {host} failed: {state.get('reason')}")
                if state["state"] != "ready":
                    if self.gone(host):
                        raise SparkClusterError(f"host {host} ended before its Spark worker registered")
                    pending.append(host)
            if not pending:
                return
            if (code := master_exit()) is not None:
                raise SparkClusterError(f"the Spark master exited with code {code}")
            if time.monotonic() > deadline:
                raise SparkClusterError(
                    f"the Spark workers of {', '.join(pending)} did not register with the master within "
                    f"{timeout:g} s ({TIMEOUT_ENV}); see their log lines"
                )
            time.sleep(POLL_SECONDS)
