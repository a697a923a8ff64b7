"""A Spark standalone cluster for a job with ``InstanceCount`` N > 1: a master and one worker per host.

Every host runs the same ``smspark-submit``, as in SageMaker's container. The primary
(``sorted(hosts)[0]``) starts the master (``spark-class ...deploy.master.Master``), publishes its URL,
then starts its own worker and the driver (client mode, against the master) at once, so that their JVMs
start side by side; the app's first job waits until every worker's executor has registered
(``spark.scheduler.minRegisteredResourcesRatio`` 1, at most 2 min). Each other host starts its worker
once the URL is published and serves until the primary announces the end or is gone. Workers are
sized by ``spark_resources``; each of them runs one executor (all its cores), as the container's YARN
configuration does.

Rendezvous: the hosts share no ``/opt/ml`` nor PIDs, but the file system and the network; they meet
in the job's folder (``spark_rendezvous``), so concurrent jobs never meet.

Everything binds 127.0.0.1 on ports the OS picks: the master's and workers' RPC and their web UIs (the
standalone daemons cannot turn theirs off). The master's REST submission server is off.

What ends the cluster, and a job's outcome:

- the app ends (either way): the primary announces the end and stops its daemons, the others stop
  theirs; the job's outcome is the app's.
- the primary's process dies (stop, ``MaxRuntimeInSeconds``, killed): its daemons die with it
  (``PR_SET_PDEATHSIG``, and its PID namespace); the other hosts see its lock drop and stop theirs.
- a worker JVM dies while the job runs: its executors die with it and Spark runs their tasks again on
  the other workers' executors, as YARN does on SageMaker when a node manager or executor is lost.
  Its host says so in the log and keeps serving; the job's outcome is the app's.
- a host's process dies (the instance is lost): its worker dies with it; the runner fails the job
  naming the host, as SageMaker fails a job when one of its instances fails.
- a worker that cannot start or register: its host records why and exits 1; the primary ends the app
  at once, its ExitMessage naming the host. The master starting and every worker registering must take less than
  ``SM_PROCESSING_SPARK_CLUSTER_TIMEOUT`` seconds (default 300), else the job fails naming who is late.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sagemaker_processing_provider.local.smspark_options import LOG4J2_BASE
from sagemaker_processing_provider.local.smspark_run import (
    become_subreaper,
    die_with_parent,
    end_tree,
    reap_leftovers,
)
from sagemaker_processing_provider.local.spark_rendezvous import (
    POLL_SECONDS,
    TIMEOUT_ENV,
    Rendezvous,
    SparkClusterError,
)
from sagemaker_processing_provider.local.spark_resources import Shape

log = logging.getLogger("smspark-submit")

# An executor turns SPARK_EXECUTOR_ATTRIBUTE_<K> into attribute K of its ExecutorAdded event.
HOST_ATTRIBUTE_ENV = "SPARK_EXECUTOR_ATTRIBUTE_SAGEMAKER_HOST"
DEFAULT_TIMEOUT_SECONDS = 300.0
DAEMON_STOP_SECONDS = 5.0
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
_MASTER_URL = re.compile(r"Starting Spark master at (spark://\S+)")
_MASTER_ALIVE = re.compile(r"New state: ALIVE")
_WORKER_STARTED = re.compile(r"Starting Spark worker (\S+) with")
_WORKER_REGISTERED = re.compile(r"Successfully registered with master")
# The daemons log only what we watch (and warnings): the job log is not a Spark debug log.
_DAEMON_LOG4J2 = LOG4J2_BASE + (
    "rootLogger.level = warn\n"
    "logger.master.name = org.apache.spark.deploy.master.Master\nlogger.master.level = info\n"
    "logger.worker.name = org.apache.spark.deploy.worker.Worker\nlogger.worker.level = info\n"
)


@dataclass(frozen=True)
class ClusterPlan:
    """One host's part in the job's cluster."""

    host: str
    hosts: tuple[str, ...]
    folder: Path
    worker: Shape
    timeout: float

    @property
    def primary(self) -> str:
        return sorted(self.hosts)[0]

    def driver_defaults(self) -> dict[str, str]:
        """spark-defaults of the driver (the user's win): one executor per worker, sized as the worker;
        the job starts once every executor has registered (at most 2 min). All hosts answer at
        127.0.0.1, so Spark would take them for one machine and read each other's shuffle files from
        disk by path: each host sees only its own folder (the sandbox), so blocks go over the network,
        as between instances."""
        return {
            "spark.shuffle.readHostLocalDisk": "false",
            "spark.driver.memory": f"{self.worker.memory_mib}m",
            "spark.executor.memory": f"{self.worker.memory_mib}m",
            "spark.cores.max": str(len(self.hosts) * self.worker.cores),
            "spark.scheduler.minRegisteredResourcesRatio": "1.0",
            "spark.scheduler.maxRegisteredResourcesWaitingTime": "120s",
        }


def cluster_timeout(env: dict[str, str]) -> float:
    raw = env.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_SECONDS
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"{TIMEOUT_ENV} must be a positive number of seconds, not {raw!r}")
    return value


class Daemon:
    """A master or worker JVM: our child (killed if we die), its log copied into ours and watched."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # started from the main thread: PDEATHSIG is per thread
        )
        self._lines: list[str] = []
        self._eof = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name=f"spark-{name}-log", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            sys.stderr.buffer.write(raw)
            sys.stderr.buffer.flush()
            with self._changed:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def wait_for(self, pattern: re.Pattern[str], what: str, deadline: float) -> re.Match[str]:
        """The first log line matching ``pattern``; SparkClusterError if the JVM ends or time runs out."""
        seen = 0
        with self._changed:
            while True:
                for line in self._lines[seen:]:
                    if match := pattern.search(line):
                        return match
                seen = len(self._lines)
                if self._eof:
                    code = self.proc.wait()
                    last = next((x for x in reversed(self._lines) if "ERROR" in x or "Exception" in x), "")
                    raise SparkClusterError(
                        f"the Spark {self.name} exited with code {code} before it could {what}. {last}".strip()
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SparkClusterError(f"the Spark {self.name} did not {what} in time ({TIMEOUT_ENV})")
                self._changed.wait(min(left, 1.0))

    def stop(self) -> None:
        """SIGTERM (the worker's shutdown hook kills its executors), SIGKILL after a grace period."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(DAEMON_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=2)


def daemon_env(base_env: dict[str, str], spark_home: Path, work_dir: Path) -> dict[str, str]:
    """Loopback, the host's scratch space, our log4j2 file, no REST server, no hsperfdata in /tmp
    (the hosts' JVMs are in different PID namespaces, so their PIDs, hence those files, may clash)."""
    conf = work_dir / "spark-conf" / "log4j2-daemons.properties"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(_DAEMON_LOG4J2)
    (work_dir / "spark-local").mkdir(parents=True, exist_ok=True)
    java_opts = f"-Dlog4j2.configurationFile={conf.as_uri()} -XX:-UsePerfData"
    return dict(base_env) | {
        "SPARK_HOME": str(spark_home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(work_dir / "spark-local"),
        "SPARK_DAEMON_JAVA_OPTS": f"{base_env.get('SPARK_DAEMON_JAVA_OPTS', '')} {java_opts}".strip(),
        "SPARK_MASTER_OPTS": f"-Dspark.master.rest.enabled=false {base_env.get('SPARK_MASTER_OPTS', '')}".strip(),
    }


def _spark_class(spark_home: Path, main_class: str, *args: str) -> list[str]:
    return [str(spark_home / "bin" / "spark-class"), main_class, "--host", "127.0.0.1", "--port", "0",
            "--webui-port", "0", *args]  # fmt: skip


def launch_worker(
    plan: ClusterPlan, url: str, env: dict[str, str], work_dir: Path, spark_home: Path
) -> Daemon:
    args = ["--cores", str(plan.worker.cores), "--memory", f"{plan.worker.memory_mib}m",
            "--work-dir", str(work_dir / "spark-worker"), url]  # fmt: skip
    env = env | {HOST_ATTRIBUTE_ENV: plan.host}  # inherited by its executors: the event log names the host
    return Daemon("worker", _spark_class(spark_home, WORKER_CLASS, *args), env)


def await_worker(
    plan: ClusterPlan, rendezvous: Rendezvous, worker: Daemon, url: str, deadline: float
) -> None:
    """Until the worker has registered with the master (state ``ready``); else state ``failed`` and raise."""
    try:
        address = worker.wait_for(_WORKER_STARTED, "start", deadline).group(1)
        worker.wait_for(_WORKER_REGISTERED, f"register with the master {url}", deadline)
    except SparkClusterError as exc:
        worker.stop()
        rendezvous.set_state(plan.host, "failed", reason=str(exc))
        raise SparkClusterError(f"the Spark worker of {plan.host} failed: {exc}") from exc
    rendezvous.set_state(plan.host, "ready", worker=address)
    log.info("%s: Spark worker %s registered with %s", plan.host, address, url)


class PrimaryCluster:
    """The primary's side. ``start``: the master ALIVE, its URL published, our worker starting. ``watch``
    (once the driver is started, so that its JVM starts while the workers do): every worker registered,
    or the driver is ended and ``failure`` says why. ``shutdown``: the end."""

    def __init__(self, plan: ClusterPlan, env: dict[str, str], work_dir: Path, spark_home: Path) -> None:
        self.plan, self.env, self.work_dir, self.spark_home = plan, env, work_dir, spark_home
        self.rendezvous = Rendezvous(plan.folder, plan.hosts)
        self.daemons: list[Daemon] = []
        self.url = ""
        self.failure: SparkClusterError | None = None
        self._deadline = time.monotonic() + plan.timeout
        self._ended = False

    def start(self) -> str:
        plan = self.plan
        self.rendezvous.join(plan.host)
        log.info(
            "starting a Spark standalone cluster: a master and %d workers of %d cores and %d MiB each (%s)",
            len(plan.hosts), plan.worker.cores, plan.worker.memory_mib, plan.folder,
        )  # fmt: skip
        master = Daemon("master", _spark_class(self.spark_home, MASTER_CLASS), self.env)
        self.daemons.append(master)
        self.url = master.wait_for(_MASTER_URL, "say its URL", self._deadline).group(1)
        master.wait_for(_MASTER_ALIVE, "become ALIVE", self._deadline)
        self.rendezvous.publish_master(self.url)
        self.daemons.append(launch_worker(plan, self.url, self.env, self.work_dir, self.spark_home))
        return self.url

    def watch(self) -> None:
        threading.Thread(target=self._watch, name="spark-cluster-watch", daemon=True).start()

    def _watch(self) -> None:
        master, worker = self.daemons
        try:
            await_worker(self.plan, self.rendezvous, worker, self.url, self._deadline)
            self.rendezvous.wait_for_workers(master.proc.poll, self._deadline, self.plan.timeout)
        except SparkClusterError as exc:
            if not self._ended:
                self.failure = exc
                log.error("the Spark cluster cannot start: %s; ending the app", exc)
                end_tree()
            return
        log.info("Spark cluster ready: %s with workers on %s", self.url, ", ".join(sorted(self.plan.hosts)))
        code = worker.proc.wait()
        if not self._ended:
            _report_lost(self.plan, self.rendezvous, code)

    def shutdown(self) -> None:
        """Announce the end (the other hosts stop their worker), then stop ours; idempotent."""
        if self._ended:
            return
        self._ended = True
        self.rendezvous.announce_end()
        for daemon in reversed(self.daemons):
            daemon.stop()
        self.rendezvous.leave()


@contextlib.contextmanager
def primary_cluster(plan: ClusterPlan, env: dict[str, str], work_dir: Path, spark_home: Path) -> Iterator[PrimaryCluster]:  # fmt: skip
    cluster = PrimaryCluster(plan, env, work_dir, spark_home)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.shutdown()


def serve_worker(plan: ClusterPlan, env: dict[str, str], work_dir: Path, spark_home: Path) -> int:
    """A non-primary host: its worker serves the primary's master until the end; 0 unless it cannot start."""
    rv = Rendezvous(plan.folder, plan.hosts)
    deadline = time.monotonic() + plan.timeout
    _exit_on_signals()
    become_subreaper()
    rv.join(plan.host)
    worker = None
    try:
        url = rv.master_url(deadline, plan.timeout)
        if url is None:
            log.info(
                "%s: the primary %s ended before the cluster started; nothing to serve",
                plan.host,
                plan.primary,
            )
            return 0
        worker = launch_worker(plan, url, env, work_dir, spark_home)
        await_worker(plan, rv, worker, url, deadline)
        while not rv.ended():
            if worker.proc.poll() is not None and rv.state(plan.host)["state"] != "lost":
                _report_lost(plan, rv, worker.proc.returncode)
            time.sleep(POLL_SECONDS)
        log.info(
            "%s: the primary %s ended the job; stopping this host's Spark worker", plan.host, plan.primary
        )
        return 0
    finally:
        if worker:
            worker.stop()
        reap_leftovers()  # executors orphaned by a killed worker came back to us
        rv.leave()


def _report_lost(plan: ClusterPlan, rv: Rendezvous, code: int) -> None:
    how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
    rv.set_state(plan.host, "lost", reason=how)
    log.warning(
        "%s: the Spark worker died (%s) while the job runs: its executors are lost; Spark runs their tasks "
        "again on the other workers' executors (as YARN does on SageMaker when a node is lost)",
        plan.host, how,
    )  # fmt: skip


def _exit_on_signals() -> None:
    """SIGTERM/SIGINT end this process through ``finally`` blocks (daemons stopped, lock released)."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, leave)
