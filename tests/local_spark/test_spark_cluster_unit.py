"""Fast tests of the local Spark cluster's parts without a JVM: worker sizes, the choice of cluster
manager, the rendezvous between processes (real processes and locks), and the daemon log watcher."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sagemaker_processing_provider.local import spark_cluster
from sagemaker_processing_provider.local import spark_resources as res
from sagemaker_processing_provider.local.smspark_options import SmsparkError
from sagemaker_processing_provider.local.smspark_submit import check_executor_fits, cluster_plan
from sagemaker_processing_provider.local.spark_rendezvous import Rendezvous, SparkClusterError

HOSTS = ("algo-1", "algo-2")

# --- worker sizes ------------------------------------------------------------------------------

# Where EC2's figures differ from the rule (documented in spark_resources); p2/p3 are not in moto's data.
KNOWN_DEVIATIONS = {"ml.c4.xlarge", "ml.c4.2xlarge", "ml.c4.4xlarge", "ml.c4.8xlarge"} | {
    f"ml.g7e.{size}xlarge" for size in (12, 24, 48)
}


def test_instance_shape_matches_ec2_for_every_processing_instance_type():
    """Every ProcessingInstanceType of botocore's model, against EC2's data as moto ships it."""
    import botocore.session
    import moto

    model = botocore.session.get_session().get_service_model("sagemaker")
    types = model.shape_for("ProcessingInstanceType").enum
    ec2 = json.loads(
        gzip.decompress((Path(moto.__file__).parent / "ec2/resources/instance_types.json.gz").read_bytes())
    )
    checked = 0
    for name in types:
        info = ec2.get(name.removeprefix("ml."))
        shape = res.instance_shape(name)  # every type has a shape
        if info is None or name in KNOWN_DEVIATIONS:
            continue
        assert (shape.cores, shape.memory_mib) == (
            info["VCpuInfo"]["DefaultVCpus"],
            info["MemoryInfo"]["SizeInMiB"],
        ), name
        checked += 1
    assert checked > 150  # nearly all of them are checked exactly
    for name in KNOWN_DEVIATIONS:
        info = ec2[name.removeprefix("ml.")]
        assert abs(res.instance_shape(name).memory_mib / info["MemoryInfo"]["SizeInMiB"] - 1) < 0.26, name


@pytest.mark.parametrize("bad", ["ml.m5", "m5.xlarge", "ml.z1d.xlarge", "ml.m5.huge", "ml.m5.0xlargeish"])
def test_instance_shape_refuses_unknown_names(bad):
    with pytest.raises(ValueError, match=f"instance type '{bad}': expected ml.<family>.<size>"):
        res.instance_shape(bad)


@pytest.mark.parametrize(
    ("instance_type", "count", "cores", "memory", "expected"),
    [
        ("ml.m5.xlarge", 2, 2, 24_000, res.Shape(1, 4000)),  # this machine: 2 cores, 24 GB
        ("ml.m5.xlarge", 2, 16, 96_000, res.Shape(4, 16_000)),  # a big laptop: 16000 = 96000 / 2 / 3
        ("ml.t3.medium", 2, 16, 96_000, res.Shape(2, 4096)),  # capped by the instance
        ("ml.r5.4xlarge", 5, 2, 8_000, res.Shape(1, 1024)),  # floors: 1 core, 1 GiB
    ],
)
def test_worker_shape_scales_the_instance_to_this_machine(instance_type, count, cores, memory, expected):
    assert res.worker_shape(instance_type, count, cores=cores, memory_mib=memory) == expected


@pytest.mark.parametrize(
    ("text", "mib"), [("4g", 4096), ("512m", 512), ("2048", 2048), ("1T", 1 << 20), ("3gb", 3072)]
)
def test_memory_sizes_as_spark_reads_them(text, mib):
    assert res.memory_mib(text) == mib


@pytest.mark.parametrize("bad", ["1.5g", "lots", "", "4x"])
def test_bad_memory_sizes(bad):
    with pytest.raises(ValueError, match="is not a memory size"):
        res.memory_mib(bad)


# --- which cluster manager ---------------------------------------------------------------------


def _resources(host: str = "algo-1", hosts: tuple[str, ...] = HOSTS, instance: str = "ml.m5.xlarge") -> dict:
    return {"current_host": host, "hosts": list(hosts), "current_instance_type": instance}


def test_plan_for_several_hosts_that_can_meet(tmp_path):
    plan = cluster_plan(_resources("algo-2"), {"SM_PROCESSING_JOB_DIR": str(tmp_path)})
    assert plan is not None
    assert (plan.host, plan.primary, plan.folder) == ("algo-2", "algo-1", tmp_path / "spark-cluster")
    assert plan.worker == res.worker_shape("ml.m5.xlarge", 2)
    assert plan.timeout == spark_cluster.DEFAULT_TIMEOUT_SECONDS
    defaults = plan.driver_defaults()
    assert (
        defaults["spark.executor.memory"] == defaults["spark.driver.memory"] == f"{plan.worker.memory_mib}m"
    )
    assert defaults["spark.cores.max"] == str(2 * plan.worker.cores)
    assert defaults["spark.scheduler.minRegisteredResourcesRatio"] == "1.0"


def test_no_cluster_for_one_host_or_hosts_that_cannot_meet(tmp_path, monkeypatch, caplog):
    env = {"SM_PROCESSING_JOB_DIR": str(tmp_path)}
    assert cluster_plan(_resources(hosts=("algo-1",)), env) is None
    with caplog.at_level("WARNING", logger="smspark-submit"):  # the shared sandbox, or not the backend
        assert cluster_plan(_resources(), {}) is None
    assert "cannot run side by side here" in caplog.text


@pytest.mark.parametrize(
    ("env", "instance", "text"),
    [
        (
            {"SM_PROCESSING_SPARK_CLUSTER_TIMEOUT": "soon"},
            "ml.m5.xlarge",
            "must be a positive number of seconds",
        ),
        ({"SM_PROCESSING_SPARK_CLUSTER_TIMEOUT": "0"}, "ml.m5.xlarge", "not '0'"),
        ({}, "ml.zz9.xlarge", "instance type 'ml.zz9.xlarge'"),
    ],
)
def test_bad_cluster_settings_are_input_errors(tmp_path, env, instance, text):
    with pytest.raises(SmsparkError, match="error preparing for spark submit") as info:
        cluster_plan(_resources(instance=instance), {"SM_PROCESSING_JOB_DIR": str(tmp_path), **env})
    assert text in str(info.value)


def test_an_executor_larger_than_a_worker_is_refused(tmp_path):
    plan = cluster_plan(_resources(), {"SM_PROCESSING_JOB_DIR": str(tmp_path)})
    assert plan is not None
    check_executor_fits({"spark.executor.memory": f"{plan.worker.memory_mib}m"}, plan)
    check_executor_fits({"spark.executor.cores": str(plan.worker.cores)}, plan)
    with pytest.raises(SmsparkError, match=r"spark.executor.memory=999g does not fit a local Spark worker"):
        check_executor_fits({"spark.executor.memory": "999g"}, plan)
    with pytest.raises(SmsparkError, match=r"spark.executor.cores=999 does not fit .* \(\d+ cores:"):
        check_executor_fits({"spark.executor.cores": "999"}, plan)
    with pytest.raises(
        SmsparkError, match="spark-defaults spark.executor.memory: 'big' is not a memory size"
    ):
        check_executor_fits({"spark.executor.memory": "big"}, plan)


# --- the rendezvous, between real processes ----------------------------------------------------

# A host process: joins the rendezvous, says so, then waits to be killed.
HOST = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from sagemaker_processing_provider.local.spark_rendezvous import Rendezvous
    rendezvous = Rendezvous(Path(sys.argv[1]), ("algo-1", "algo-2"))
    rendezvous.join(sys.argv[2])  # held while this process lives
    print("joined", flush=True)
    time.sleep(300)
    """
)


def _host_process(folder: Path, host: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOST, str(folder), host], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "joined\n"
    return proc


def test_a_host_is_gone_once_its_process_dies_however_it_dies(tmp_path):
    rv = Rendezvous(tmp_path, HOSTS)
    assert not rv.gone("algo-2")  # not started yet
    proc = _host_process(tmp_path, "algo-2")
    try:
        assert not rv.gone("algo-2") and not rv.gone("algo-2")  # probing does not take its lock
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert rv.gone("algo-2")


def test_workers_see_the_master_url_or_the_primary_gone(tmp_path):
    worker = Rendezvous(tmp_path, HOSTS)
    primary = _host_process(tmp_path, "algo-1")
    Rendezvous(tmp_path, HOSTS).publish_master("spark://127.0.0.1:7077")
    assert worker.master_url(time.monotonic() + 5, 5) == "spark://127.0.0.1:7077"
    assert not worker.ended()
    primary.kill()
    primary.wait()
    assert worker.ended()
    (tmp_path / "master.json").unlink()
    assert worker.master_url(time.monotonic() + 5, 5) is None  # the primary ended before publishing


def test_a_worker_waiting_for_the_master_times_out_naming_the_primary(tmp_path):
    with pytest.raises(
        SparkClusterError, match=r"the primary algo-1 published no Spark master URL within 0.3 s"
    ):
        Rendezvous(tmp_path, HOSTS).master_url(time.monotonic() + 0.3, 0.3)


def test_the_primary_waits_for_every_worker_and_names_the_one_that_fails(tmp_path):
    rv = Rendezvous(tmp_path, HOSTS)
    rv.join("algo-1")
    rv.set_state("algo-1", "ready", worker="127.0.0.1:1")
    with pytest.raises(SparkClusterError, match=r"workers of algo-2 did not register .* within 0.3 s"):
        rv.wait_for_workers(lambda: None, time.monotonic() + 0.3, 0.3)
    with pytest.raises(SparkClusterError, match="the Spark master exited with code 143"):
        rv.wait_for_workers(lambda: 143, time.monotonic() + 30, 30)
    rv.set_state("algo-2", "failed", reason="the Spark worker exited with code 1")
    with pytest.raises(SparkClusterError, match="the Spark worker of algo-2 failed: the Spark worker exited"):
        rv.wait_for_workers(lambda: None, time.monotonic() + 30, 30)
    (tmp_path / "algo-2.json").unlink()
    _host_process(tmp_path, "algo-2").kill()
    with pytest.raises(SparkClusterError, match="host algo-2 ended before its Spark worker registered"):
        rv.wait_for_workers(lambda: None, time.monotonic() + 30, 30)
    rv.set_state("algo-2", "ready", worker="127.0.0.1:2")
    rv.wait_for_workers(lambda: None, time.monotonic() + 30, 30)


# --- the daemon log watcher (a shell script stands in for the JVM) ------------------------------


def _daemon(script: str) -> spark_cluster.Daemon:
    return spark_cluster.Daemon("master", ["/bin/sh", "-c", script], {"PATH": "/usr/bin:/bin"})


def test_daemon_log_lines_are_watched_and_copied(capfd):
    daemon = _daemon(
        "echo booting; echo 'INFO Master: Starting Spark master at spark://127.0.0.1:4242'; exec sleep 30"
    )
    try:
        match = daemon.wait_for(spark_cluster._MASTER_URL, "say its URL", time.monotonic() + 10)
        assert match.group(1) == "spark://127.0.0.1:4242"
    finally:
        daemon.stop()
    assert daemon.proc.returncode == -signal.SIGTERM
    assert "booting" in capfd.readouterr().err


def test_daemon_that_dies_or_is_late_gives_a_clear_error():
    dead = _daemon("echo 'ERROR Master: port in use'; exit 3")
    with pytest.raises(
        SparkClusterError, match=r"exited with code 3 before it could say its URL. ERROR Master: port"
    ):
        dead.wait_for(spark_cluster._MASTER_URL, "say its URL", time.monotonic() + 10)
    late = _daemon("exec sleep 30")
    try:
        with pytest.raises(
            SparkClusterError, match=r"did not become ALIVE in time \(SM_PROCESSING_SPARK_CLUSTER"
        ):
            late.wait_for(spark_cluster._MASTER_ALIVE, "become ALIVE", time.monotonic() + 0.3)
    finally:
        late.stop()


# --- the primary's watcher, with shell scripts for the master and worker JVMs ---------------------

MASTER = "echo 'INFO Master: Starting Spark master at spark://127.0.0.1:4040'; echo 'New state: ALIVE'; exec sleep 60"
WORKER_OK = (
    "echo 'INFO Worker: Starting Spark worker 127.0.0.1:5050 with 1 cores'; "
    "echo 'Successfully registered with master'; exec sleep 60"
)
WORKER_BAD = "echo 'ERROR Worker: cannot bind'; exit 1"


def _primary(
    tmp_path: Path, monkeypatch, worker: str
) -> tuple[spark_cluster.PrimaryCluster, threading.Event]:
    scripts = {spark_cluster.MASTER_CLASS: MASTER, spark_cluster.WORKER_CLASS: worker}
    monkeypatch.setattr(
        spark_cluster, "_spark_class", lambda _home, cls, *_args: ["/bin/sh", "-c", scripts[cls]]
    )
    ended = threading.Event()  # stands for end_tree(), which would signal every child of pytest
    monkeypatch.setattr(spark_cluster, "end_tree", ended.set)
    plan = spark_cluster.ClusterPlan("algo-1", HOSTS, tmp_path / "spark-cluster", res.Shape(1, 1024), 30)
    cluster = spark_cluster.PrimaryCluster(plan, {"PATH": "/usr/bin:/bin"}, tmp_path, Path("/spark"))
    assert cluster.start() == "spark://127.0.0.1:4040"
    return cluster, ended


def test_primary_ends_the_app_at_once_when_a_worker_cannot_start(tmp_path, monkeypatch):
    cluster, ended = _primary(tmp_path, monkeypatch, WORKER_BAD)
    rv = cluster.rendezvous
    assert rv.master_url(time.monotonic() + 1, 1) == "spark://127.0.0.1:4040"  # published for the others
    cluster.watch()  # what smspark_run.run calls once spark-submit runs
    assert ended.wait(10)
    reason = "the Spark worker exited with code 1 before it could start. ERROR Worker: cannot bind"
    assert str(cluster.failure) == f"the Spark worker of algo-1 failed: {reason}"
    assert rv.state("algo-1") == {"state": "failed", "reason": reason}
    cluster.shutdown()
    assert rv.ended() and all(d.proc.poll() is not None for d in cluster.daemons)


def test_primary_reports_its_worker_lost_while_the_job_runs(tmp_path, monkeypatch, caplog):
    cluster, ended = _primary(tmp_path, monkeypatch, WORKER_OK)
    rv = cluster.rendezvous
    rv.set_state("algo-2", "ready", worker="127.0.0.1:6060")  # the other host's worker
    with caplog.at_level("INFO", logger="smspark-submit"):
        cluster.watch()
        wait = time.monotonic() + 10
        while "Spark cluster ready" not in caplog.text and time.monotonic() < wait:
            time.sleep(0.05)
        cluster.daemons[1].proc.kill()
        while rv.state("algo-1")["state"] != "lost" and time.monotonic() < wait:
            time.sleep(0.05)
    assert rv.state("algo-1") == {"state": "lost", "reason": "killed by signal 9"}
    assert "algo-1: the Spark worker died (killed by signal 9) while the job runs" in caplog.text
    assert not ended.is_set() and cluster.failure is None  # Spark goes on with the other executors
    cluster.shutdown()
