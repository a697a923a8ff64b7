"""Unit tests of the local smspark-submit: option parsing, path expansion, conf mapping, command building.

No Spark runs here; ``main()`` is exercised with a test ``/opt/ml`` root for the paths that end
before spark-submit (workers, bad input).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from sagemaker_processing_provider.local import smspark_options as sm
from sagemaker_processing_provider.local.smspark_run import EventLogPublisher, last_error_line
from sagemaker_processing_provider.local.smspark_submit import is_primary
from sagemaker_processing_provider.local.smspark_submit import main as smspark_main

SPARK_HOME = Path("/spark")
PY = "/venv/bin/python"


def _build(options: sm.SubmitOptions, conf: object = None, work: Path = Path("/w"), **kw) -> sm.SparkCommand:
    classifications = sm.parse_configuration(conf) if conf is not None else []
    return sm.build_command(
        options, classifications, spark_home=SPARK_HOME, work_dir=work, python=PY, base_env={"A": "1"}, **kw
    )


def _confs(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--conf")


# --- parse_args -------------------------------------------------------------------------------


def test_parse_all_options_and_pass_app_arguments_through():
    opts = sm.parse_args(
        ["--class", "com.x.Main", "--jars=/j", "--py-files", "/p", "--files", "/f", "-v",
         "--local-spark-event-logs-dir", "/opt/ml/processing/spark-events/",
         "--spark-event-logs-s3-uri", "s3://b/e", "app.jar", "--jars", "kept", "-v"]
    )  # fmt: skip
    assert opts == sm.SubmitOptions(
        app="app.jar", app_arguments=("--jars", "kept", "-v"), class_="com.x.Main", jars="/j",
        py_files="/p", files="/f", spark_event_logs_s3_uri="s3://b/e",
        local_spark_event_logs_dir="/opt/ml/processing/spark-events/", verbose=True,
    )  # fmt: skip


def test_double_dash_ends_options():
    assert sm.parse_args(["--", "-weird.py", "x"]) == sm.SubmitOptions(app="-weird.py", app_arguments=("x",))


@pytest.mark.parametrize(
    ("argv", "cause", "text"),
    [
        ([], "MissingParameter", "Missing argument 'APP'"),
        (["--jars"], "MissingParameter", "'--jars' requires an argument"),
        (["--nope", "a.py"], "NoSuchOption", "No such option: --nope."),
        (["--conf", "k=v", "a.py"], "NoSuchOption", "spark-defaults classification"),
        (
            ["--driver-memory=4g", "a.py"],
            "NoSuchOption",
            "No such option: --driver-memory. It is a spark-submit",
        ),
    ],
)
def test_parse_errors_are_the_containers(argv, cause, text):
    with pytest.raises(sm.SmsparkError) as info:
        sm.parse_args(argv)
    message = str(info.value)
    assert message.startswith(f"Algorithm Error: (caused by {cause}): Couldn't parse input.: ")
    assert text in message
    assert info.value.exit_code == 1


def test_error_message_is_truncated_to_1024_characters():
    err = sm.SmsparkError("m", ValueError("x" * 5000), detail="y" * 10)
    assert len(str(err)) == 1024


# --- expand_paths -----------------------------------------------------------------------------


def test_expand_each_element_s3_then_directory(tmp_path):
    (tmp_path / "b.py").write_text("")
    (tmp_path / "a.py").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.py").write_text("")  # top-level files only
    value = f"s3://bucket/lib.zip,{tmp_path}"
    assert sm.expand_paths(value, "--py-files") == f"s3://bucket/lib.zip,{tmp_path}/a.py,{tmp_path}/b.py"


def test_expand_directory_first_keeps_s3_uris_intact(tmp_path):
    """The container's bug case: a local path first used to mangle the S3 URIs that follow."""
    (tmp_path / "x.jar").write_text("")
    value = f"{tmp_path},s3a://b/k/y.jar,file://{tmp_path}/x.jar"
    assert sm.expand_paths(value, "--jars") == f"{tmp_path}/x.jar,s3a://b/k/y.jar,{tmp_path}/x.jar"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("relative/x.py", "must be an absolute path"),
        ("/does/not/exist", "does not exist"),
        ("s3://b/x.py,,s3://b/y.py", "empty element"),
    ],
)
def test_expand_bad_paths(value, text):
    with pytest.raises(sm.SmsparkError, match=text) as info:
        sm.expand_paths(value, "--files")
    assert "error preparing for spark submit" in str(info.value)
    assert "--files" in str(info.value)


def test_expand_empty_directory(tmp_path):
    with pytest.raises(sm.SmsparkError, match="found zero files"):
        sm.expand_paths(str(tmp_path), "--jars")


# --- configuration ----------------------------------------------------------------------------


def test_parse_configuration_dict_or_list():
    one = {"Classification": "spark-defaults", "Properties": {"a": 1}}
    assert sm.parse_configuration(one) == [sm.Classification("spark-defaults", {"a": "1"})]
    assert len(sm.parse_configuration([one, one])) == 2


@pytest.mark.parametrize(
    ("conf", "text"),
    [
        ({"Classification": "spark-nope", "Properties": {}}, "invalid classification 'spark-nope'"),
        ({"Classification": "spark-env", "Properties": {}}, "needs nested 'export'"),
        (
            {
                "Classification": "spark-env",
                "Properties": {},
                "Configurations": [{"Classification": "x", "Properties": {}}],
            },
            r"configuration\[0\].Configurations\[0\].Classification: invalid",
        ),
        ({"Classification": "spark-defaults", "Properties": ["a"]}, "Properties: expected an object"),
        ({"Classification": "spark-defaults", "Properties": {}, "Extra": 1}, "unknown keys"),
        ({"Properties": {}}, "expected an object with 'Classification'"),
        ({"Classification": "export", "Properties": {}}, "invalid classification 'export'"),
    ],
)
def test_parse_configuration_rejects(conf, text):
    with pytest.raises(sm.SmsparkError, match=text):
        sm.parse_configuration(conf)


def test_classifications_map_to_conf_env_and_warnings():
    conf = [
        {"Classification": "spark-defaults", "Properties": {"spark.ui.enabled": "true", "spark.executor.memory": "2g",
                                                            "spark.master": "yarn"}},
        {"Classification": "core-site", "Properties": {"fs.s3a.endpoint": "http://minio:9000"}},
        {"Classification": "spark-env", "Properties": {}, "Configurations": [
            {"Classification": "export", "Properties": {"MY_VAR": "'quoted'", "PYSPARK_PYTHON": "/usr/bin/python3"}}]},
        {"Classification": "yarn-site", "Properties": {"yarn.nodemanager.resource.memory-mb": "1"}},
        {"Classification": "hive-site", "Properties": {"x": "y"}},
    ]  # fmt: skip
    settings = sm.settings_from_classifications(sm.parse_configuration(conf), PY)
    assert settings.conf == {
        "spark.ui.enabled": "true",
        "spark.executor.memory": "2g",
        "spark.hadoop.fs.s3a.endpoint": "http://minio:9000",
    }
    assert settings.env == {"MY_VAR": "quoted", "PYSPARK_PYTHON": PY, "PYSPARK_DRIVER_PYTHON": PY}
    joined = "\n".join(settings.warnings)
    assert "'yarn-site' is ignored" in joined and "'hive-site' is ignored" in joined
    assert "PYSPARK_PYTHON=/usr/bin/python3 is ignored" in joined
    assert "spark.master=yarn is ignored" in joined


def test_spark_log4j_levels_become_log4j2():
    conf = {"Classification": "spark-log4j", "Properties": {
        "log4j.rootCategory": "WARN, console", "log4j.logger.org.apache.spark.scheduler": "ERROR",
        "log4j.appender.console.target": "System.out"}}  # fmt: skip
    settings = sm.settings_from_classifications(sm.parse_configuration(conf), PY)
    assert settings.log4j2 == [
        "rootLogger.level = warn",
        "logger.sm1.name = org.apache.spark.scheduler",
        "logger.sm1.level = error",
    ]
    assert any("ignored: log4j.appender.console.target" in w for w in settings.warnings)


# --- build_command ----------------------------------------------------------------------------


def test_command_order_and_defaults(tmp_path):
    (tmp_path / "dep.py").write_text("")
    opts = sm.SubmitOptions(app="/code/app.py", app_arguments=("--x", "1"), class_="M", jars="s3://b/j.jar",
                            py_files=str(tmp_path), files="s3://b/f.txt", verbose=True)  # fmt: skip
    cmd = _build(opts, work=Path("/w"), master="local[3]")
    argv = cmd.argv
    assert argv[:5] == ["/spark/bin/spark-submit", "--master", "local[3]", "--deploy-mode", "client"]
    tail = argv[argv.index("--class") :]
    assert tail == ["--class", "M", "--jars", "s3://b/j.jar", "--py-files", f"{tmp_path}/dep.py",
                    "--files", "s3://b/f.txt", "--verbose", "/code/app.py", "--x", "1"]  # fmt: skip
    assert _confs(argv) == {
        "spark.driver.memory": sm.local_driver_memory(),
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.local.dir": "/w/spark-local",
        "spark.sql.warehouse.dir": "/w/spark-warehouse",
        "spark.eventLog.dir": "file:///w/spark-events",
        "spark.driver.extraJavaOptions": "-Dderby.system.home=/w/derby",
    }
    assert cmd.env["A"] == "1" and cmd.env["SPARK_HOME"] == "/spark" and cmd.env["PYSPARK_PYTHON"] == PY
    assert cmd.app == "/code/app.py" and cmd.files == {} and cmd.event_logs_dir is None
    assert "/w/spark-local" in cmd.dirs and "/w/derby" in cmd.dirs


@pytest.mark.parametrize(
    ("master", "loopback"),
    [
        ("local[*]", True),
        ("spark://127.0.0.1:40123", True),  # the local cluster
        ("spark://localhost:7077", True),
        ("spark://spark-master.example.com:7077", False),  # executors elsewhere must reach the driver
        ("k8s://https://k8s.example.com:6443", False),
    ],
)
def test_the_driver_binds_loopback_only_for_a_master_on_this_machine(master, loopback):
    cmd = _build(sm.SubmitOptions(app="a.py"), master=master)
    confs = _confs(cmd.argv)
    assert cmd.argv[1:3] == ["--master", master]
    assert ("spark.driver.host" in confs, "spark.driver.bindAddress" in confs) == (loopback, loopback)
    assert ("SPARK_LOCAL_IP" in cmd.env) is loopback


def test_driver_memory_is_half_this_machine_at_least_1g():
    mib = int(sm.local_driver_memory().removesuffix("m"))
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    assert mib == max(1024, total // 2)


def test_user_spark_defaults_win_and_java_options_merge():
    conf = {"Classification": "spark-defaults", "Properties": {
        "spark.ui.enabled": "true", "spark.driver.extraJavaOptions": "-Dfoo=bar", "spark.eventLog.enabled": "false"}}  # fmt: skip
    cmd = _build(
        sm.SubmitOptions(app="a.py", local_spark_event_logs_dir="/opt/ml/processing/spark-events/"), conf
    )
    confs = _confs(cmd.argv)
    assert confs["spark.ui.enabled"] == "true"
    assert confs["spark.driver.extraJavaOptions"] == "-Dfoo=bar -Dderby.system.home=/w/derby"
    assert confs["spark.eventLog.enabled"] == "true"  # the event log option wins, as in the container
    assert cmd.event_logs_dir == "/opt/ml/processing/spark-events/"
    assert cmd.event_logs_staging == "/w/spark-events"


def test_spark_env_reaches_the_environment_and_log4j_file_is_planned():
    conf = [
        {"Classification": "spark-env", "Properties": {}, "Configurations": [
            {"Classification": "export", "Properties": {"SPARK_LOCAL_IP": "127.0.0.2", "X": "y"}}]},
        {"Classification": "spark-log4j", "Properties": {"log4j.rootCategory": "ERROR"}},
    ]  # fmt: skip
    cmd = _build(sm.SubmitOptions(app="a.py"), conf)
    assert cmd.env["X"] == "y" and cmd.env["SPARK_LOCAL_IP"] == "127.0.0.2"
    (path, content) = next(iter(cmd.files.items()))
    assert path == "/w/spark-conf/log4j2.properties" and content.endswith("rootLogger.level = error\n")
    assert (
        "-Dlog4j2.configurationFile=file:///w/spark-conf/log4j2.properties"
        in _confs(cmd.argv)["spark.driver.extraJavaOptions"]
    )


def test_remote_event_log_dir_from_spark_defaults_is_left_to_spark():
    conf = {"Classification": "spark-defaults", "Properties": {"spark.eventLog.enabled": "true",
                                                               "spark.eventLog.dir": "s3a://bucket/events"}}  # fmt: skip
    cmd = _build(sm.SubmitOptions(app="a.py"), conf)
    assert _confs(cmd.argv)["spark.eventLog.dir"] == "s3a://bucket/events"
    assert cmd.event_logs_staging == "/w/spark-events" and not any(d.startswith("/events") for d in cmd.dirs)


@pytest.mark.parametrize(
    ("resources", "primary"),
    [
        ({"current_host": "algo-1", "hosts": ["algo-1"]}, True),
        ({"current_host": "algo-2", "hosts": ["algo-2", "algo-1"]}, False),
        ({"current_host": "algo-1", "hosts": ["algo-2", "algo-1"]}, True),
        ({}, True),
    ],
)
def test_primary_host(resources, primary):
    assert is_primary(resources) is primary


# --- main() without Spark ---------------------------------------------------------------------


@pytest.fixture
def opt_ml(tmp_path, monkeypatch):
    root = tmp_path / "ml"
    (root / "config").mkdir(parents=True)
    monkeypatch.setenv(sm.OPT_ML_ENV, str(root))
    monkeypatch.chdir(tmp_path)
    return root


def test_worker_exits_zero_when_the_primary_uses_an_existing_master(opt_ml, caplog, monkeypatch):
    (opt_ml / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]})
    )
    monkeypatch.setenv(sm.MASTER_ENV, "spark://cluster.example:7077")
    monkeypatch.setenv("SM_PROCESSING_JOB_DIR", str(opt_ml.parent))  # would start a local cluster
    with caplog.at_level("INFO", logger="smspark-submit"):
        assert smspark_main(["/opt/ml/processing/input/code/app.py"]) == 0
    assert "the primary algo-1 runs the Spark app with master spark://cluster.example:7077" in caplog.text
    assert not (opt_ml / "output" / "message").exists() and not (opt_ml.parent / "spark-cluster").exists()
    assert not (opt_ml / "output" / "message").exists()


def test_bad_option_writes_message_and_exits_1(opt_ml):
    assert smspark_main(["--num-executors", "3", "app.py"]) == 1
    message = (opt_ml / "output" / "message").read_text()
    assert message.startswith(
        "Algorithm Error: (caused by NoSuchOption): Couldn't parse input.: No such option: --num-executors"
    )


def test_invalid_configuration_json_writes_message(opt_ml):
    conf = opt_ml / "processing" / "input" / "conf"
    conf.mkdir(parents=True)
    (conf / "configuration.json").write_text('[{"Classification": "spark-default", "Properties": {}}]')
    assert smspark_main(["app.py"]) == 1
    assert "invalid classification 'spark-default'" in (opt_ml / "output" / "message").read_text()


def test_unreadable_configuration_json(opt_ml):
    conf = opt_ml / "processing" / "input" / "conf"
    conf.mkdir(parents=True)
    (conf / "configuration.json").write_text("{not json")
    assert smspark_main(["app.py"]) == 1
    assert "configuration.json is not valid JSON" in (opt_ml / "output" / "message").read_text()


# --- run helpers ------------------------------------------------------------------------------


def test_last_error_line_finds_python_and_jvm_errors():
    py = ["Traceback (most recent call last):", '  File "a.py", line 3', "ValueError: boom",
          "26/11/25 12:00:00 INFO ShutdownHookManager: Deleting directory /tmp/x"]  # fmt: skip
    assert last_error_line(py) == "ValueError: boom"
    jvm = ['Exception in thread "main" java.lang.IllegalStateException: bad', "\tat Main.main(Main.java:3)"]
    assert last_error_line(jvm) == 'Exception in thread "main" java.lang.IllegalStateException: bad'
    assert last_error_line(["Error: Failed to load class demo.Missing.", "x"]) == (
        "Error: Failed to load class demo.Missing."
    )
    assert last_error_line(["all fine", "26/11/25 12:00:00 ERROR Executor: Exception in task"]) is None


def test_event_log_publisher_strips_inprogress_and_skips_crc(tmp_path):
    staging, dest = tmp_path / "work" / "spark-events", tmp_path / "ml" / "spark-events"
    (staging / "eventlog_v2_app").mkdir(parents=True)
    (staging / "eventlog_v2_app" / "appstatus_app.inprogress").write_text("")
    (staging / "eventlog_v2_app" / "events_1_app.zstd").write_text("abc")
    (staging / "eventlog_v2_app" / ".events_1_app.zstd.crc").write_text("crc")
    (staging / "local-1.inprogress").write_text("x")
    publisher = EventLogPublisher(staging, dest)
    publisher.sync()
    (staging / "local-1.inprogress").rename(staging / "local-1")  # Spark finishes the file
    (staging / "local-1").write_text("xy")
    publisher.sync()
    found = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert found == ["eventlog_v2_app/appstatus_app", "eventlog_v2_app/events_1_app.zstd", "local-1"]
    assert (dest / "local-1").read_text() == "xy"
    assert not list((tmp_path / "work").glob(".event-log-copy-*"))


def test_find_spark_home_is_pyspark():
    home = sm.find_spark_home()
    assert (home / "bin" / "spark-submit").exists() and (home / "jars").is_dir()
    assert str(home).startswith(sys.prefix)
