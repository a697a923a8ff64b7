"""Slow tests: the local smspark-submit really runs PySpark apps and a jar on the installed pyspark.

Each test gets a test ``/opt/ml`` root (``SM_PROCESSING_OPT_ML``) and its own work dir as cwd, as the
backend's sandbox gives each host. Apps take their paths as arguments (no mount namespace here).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sagemaker_processing_provider.local.smspark_options import OPT_ML_ENV, find_spark_home
from spark_cluster_support import FAST_JVM

pytestmark = pytest.mark.slow

APP = textwrap.dedent(
    """
    import json, os, sys
    from pyspark import SparkFiles
    from pyspark.sql import SparkSession
    import helper  # from --py-files (a directory, expanded)

    out = sys.argv[1]
    spark = SparkSession.builder.appName("smspark-test").getOrCreate()
    conf = spark.sparkContext.getConf()
    result = {
        "args": sys.argv[2:],
        "master": spark.sparkContext.master,
        "partitions": spark.conf.get("spark.sql.shuffle.partitions"),
        "custom": conf.get("spark.myapp.flag", None),
        "hadoop": spark.sparkContext._jsc.hadoopConfiguration().get("fs.myapp.key"),
        "bind": conf.get("spark.driver.bindAddress"),
        "ui": conf.get("spark.ui.enabled"),
        "env": os.environ.get("MYAPP_ENV"),
        "helper": helper.VALUE,
        "file": open(SparkFiles.get("lookup.txt")).read().strip(),
        "sum": spark.range(10).groupBy().sum("id").first()[0],
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f)
    spark.stop()
    """
)

FAILING_APP = textwrap.dedent(
    """
    import subprocess, sys
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.getOrCreate()
    spark.range(3).count()
    # A daemon that escapes its parent (new session, never waited for): it must not outlive the job.
    daemon = subprocess.Popen(["sleep", "300"], start_new_session=True, stdout=subprocess.DEVNULL)
    open(sys.argv[1], "w").write(str(daemon.pid))
    raise ValueError("the input has no rows with rings > 0")
    """
)

SLEEPING_APP = textwrap.dedent(
    """
    import os, sys, time
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.getOrCreate()
    open(sys.argv[1], "w").write(str(os.getpid()))
    time.sleep(300)
    """
)

JAVA_MAIN = textwrap.dedent(
    """
    package demo;
    import org.apache.spark.sql.SparkSession;
    import java.nio.file.*;
    public class Main {
      public static void main(String[] args) throws Exception {
        SparkSession spark = SparkSession.builder().appName("jar-test").getOrCreate();
        long n = spark.range(25).count();
        String flag = spark.conf().get("spark.myapp.flag");
        Files.createDirectories(Paths.get(args[0]));
        Files.writeString(Paths.get(args[0], "out.txt"), n + " " + flag + " " + args[1]);
        spark.stop();
      }
    }
    """
)


def _host(tmp_path: Path, configuration: object | None = None, hosts: int = 1) -> tuple[Path, Path]:
    """A test /opt/ml root (resourceconfig of the primary of ``hosts``, conf) and a work dir."""
    ml, work = tmp_path / "ml", tmp_path / "work"
    (ml / "config").mkdir(parents=True)
    resources = {"current_host": "algo-1", "hosts": [f"algo-{i}" for i in range(1, hosts + 1)]}
    (ml / "config" / "resourceconfig.json").write_text(json.dumps(resources))
    work.mkdir()
    if configuration is not None:
        conf_dir = ml / "processing" / "input" / "conf"
        conf_dir.mkdir(parents=True)
        (conf_dir / "configuration.json").write_text(json.dumps(configuration))
    return ml, work


def _env(ml: Path) -> dict[str, str]:
    env = dict(os.environ, **{OPT_ML_ENV: str(ml), "SM_PROCESSING_SPARK_MASTER": "local[2]"})
    env["SM_PROCESSING_JOB_DIR"] = str(ml.parent)  # several hosts would meet there, without the master
    env["JAVA_TOOL_OPTIONS"] = FAST_JVM
    env.pop("PYSPARK_PYTHON", None)
    return env


def _smspark(ml: Path, work: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sagemaker_processing_provider.local.smspark_submit", *args]
    return subprocess.run(cmd, cwd=work, env=_env(ml), capture_output=True, text=True, timeout=300, **kw)


def _alive(pid: int) -> bool:
    """A live, non-zombie process (a killed orphan may stay a zombie until its reaper exits)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_pyspark_app_with_conf_deps_and_event_logs(tmp_path):
    configuration = [
        {"Classification": "spark-defaults", "Properties": {"spark.sql.shuffle.partitions": "7",
                                                            "spark.myapp.flag": "on"}},
        {"Classification": "core-site", "Properties": {"fs.myapp.key": "hadoop-value"}},
        {"Classification": "spark-env", "Properties": {}, "Configurations": [
            {"Classification": "export", "Properties": {"MYAPP_ENV": "from-spark-env"}}]},
        {"Classification": "yarn-site", "Properties": {"yarn.scheduler.maximum-allocation-mb": "1024"}},
        {"Classification": "spark-log4j", "Properties": {"log4j.rootCategory": "WARN, console"}},
    ]  # fmt: skip
    ml, work = _host(tmp_path, configuration, hosts=2)  # the primary; SM_PROCESSING_SPARK_MASTER wins
    code = ml / "processing" / "input" / "code"
    code.mkdir(parents=True)
    (code / "app.py").write_text(APP)
    deps, files = ml / "processing" / "input" / "py-files", ml / "processing" / "input" / "files"
    deps.mkdir()
    files.mkdir()
    (deps / "helper.py").write_text("VALUE = 42\n")
    (files / "lookup.txt").write_text("looked-up\n")
    events = ml / "processing" / "spark-events"
    out = ml / "processing" / "output" / "result"

    proc = _smspark(
        ml, work, "--py-files", str(deps), "--files", str(files), "--local-spark-event-logs-dir", f"{events}/",
        str(code / "app.py"), str(out), "--flag", "x y",
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result == {
        "args": ["--flag", "x y"], "master": "local[2]", "partitions": "7", "custom": "on",
        "hadoop": "hadoop-value", "bind": "127.0.0.1", "ui": "false", "env": "from-spark-env",
        "helper": 42, "file": "looked-up", "sum": 45,
    }  # fmt: skip
    assert "'yarn-site' is ignored by the local Spark runtime" in proc.stderr
    assert " INFO DAGScheduler" not in proc.stderr  # spark-log4j set the root level to WARN
    logged = [p for p in events.rglob("*") if p.is_file()]
    assert any(p.name.startswith("events_") for p in logged), logged
    assert not [p for p in logged if p.name.endswith(".inprogress")]
    assert (work / "spark-local").is_dir() and not (ml / "output" / "message").exists()
    assert not (tmp_path / "spark-cluster").exists()  # no local cluster next to the given master


def test_failing_pyspark_app_reports_the_reason(tmp_path):
    ml, work = _host(tmp_path)
    app, daemon_pid = tmp_path / "fail.py", tmp_path / "daemon.pid"
    app.write_text(FAILING_APP)

    proc = _smspark(ml, work, str(app), str(daemon_pid))

    assert proc.returncode == 1
    message = (ml / "output" / "message").read_text()
    assert message.startswith(
        "Algorithm Error: (caused by CalledProcessError): spark failed with a non-zero exit code: "
        f"Command 'spark-submit {app}' returned non-zero exit status 1."
    )
    assert message.endswith("Last error: ValueError: the input has no rows with rings > 0")
    assert "ValueError: the input has no rows" in proc.stdout  # the app's output still reaches the log
    assert re.search(r"killed [1-9]\d* process\(es\) left behind by spark-submit", proc.stderr), proc.stderr[
        -2000:
    ]
    assert not _alive(int(daemon_pid.read_text()))


@pytest.fixture(scope="module")
def demo_jar(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("jar")
    src = root / "demo" / "Main.java"
    src.parent.mkdir()
    src.write_text(JAVA_MAIN)
    classpath = str(find_spark_home() / "jars" / "*")
    subprocess.run(
        ["javac", "-cp", classpath, "-d", str(root / "classes"), str(src)], check=True, timeout=120
    )
    jar = root / "demo.jar"
    subprocess.run(["jar", "cf", str(jar), "-C", str(root / "classes"), "."], check=True, timeout=60)
    return jar


def test_jar_app_with_class_and_conf(tmp_path, demo_jar):
    ml, work = _host(
        tmp_path, {"Classification": "spark-defaults", "Properties": {"spark.myapp.flag": "jar-on"}}
    )
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "unused.jar").write_bytes(demo_jar.read_bytes())  # a --jars directory is expanded
    out = tmp_path / "out"

    proc = _smspark(ml, work, "--class", "demo.Main", "--jars", str(jars), str(demo_jar), str(out), "arg-1")

    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "out.txt").read_text() == "25 jar-on arg-1"
    assert f"--jars {jars}/unused.jar" in proc.stderr  # the command line is logged


def test_jar_with_unknown_class_exits_with_spark_submits_code(tmp_path, demo_jar):
    ml, work = _host(tmp_path)

    proc = _smspark(ml, work, "--class", "demo.Missing", str(demo_jar))

    assert proc.returncode == 101  # spark-submit's own exit code for a missing main class
    message = (ml / "output" / "message").read_text()
    assert "returned non-zero exit status 101." in message
    assert message.endswith("Last error: Error: Failed to load class demo.Missing.")


def test_sigterm_stops_the_whole_spark_tree(tmp_path):
    ml, work = _host(tmp_path)
    app, marker = tmp_path / "sleep.py", tmp_path / "driver.pid"
    app.write_text(SLEEPING_APP)
    cmd = [sys.executable, "-m", "sagemaker_processing_provider.local.smspark_submit", str(app), str(marker)]
    proc = subprocess.Popen(cmd, cwd=work, env=_env(ml), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):  # the driver writes its pid once Spark is up
            if marker.exists() and marker.read_text():
                break
            assert proc.poll() is None, "smspark-submit ended before the app started"
            time.sleep(0.1)
        driver = int(marker.read_text())
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code != 0
    assert "exit" in (ml / "output" / "message").read_text()
    assert not _alive(driver)  # the Python driver (a child of the JVM) is gone too
