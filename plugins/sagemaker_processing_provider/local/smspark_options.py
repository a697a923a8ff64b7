"""``smspark-submit``'s command line and Spark settings, turned into a ``spark-submit`` command.

Pure parsing and assembly, no process started (that is ``smspark_run``): the container's CLI
(``aws/sagemaker-spark-container`` ``src/smspark/cli.py``), the EMR-style ``configuration.json``
classifications, and the ``SparkCommand`` that ``smspark_submit.main`` hands to ``smspark_run``.
See ``smspark_submit`` for what differs from the container and why.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from sagemaker_processing_provider.local.spark_resources import machine_memory_mib

OPT_ML_ENV = "SM_PROCESSING_OPT_ML"  # test-only override of /opt/ml
MASTER_ENV = "SM_PROCESSING_SPARK_MASTER"
DEFAULT_MASTER = "local[*]"
MESSAGE_LIMIT = 1024

# The classifications the container (and the SDK's validation) accept.
VALID_CLASSIFICATIONS = (
    "core-site", "hadoop-env", "hadoop-log4j", "hive-env", "hive-log4j", "hive-exec-log4j", "hive-site",
    "spark-defaults", "spark-env", "spark-log4j", "spark-hive-site", "spark-metrics", "yarn-env",
    "yarn-site",
)  # fmt: skip
LOCAL_ONLY_CLASSIFICATIONS = ("spark-log4j2",)
_VALUE_OPTIONS = {
    "--class": "class_",
    "--jars": "jars",
    "--py-files": "py_files",
    "--files": "files",
    "--spark-event-logs-s3-uri": "spark_event_logs_s3_uri",
    "--local-spark-event-logs-dir": "local_spark_event_logs_dir",
}
_SPARK_SUBMIT_ONLY = {
    "--conf", "-c", "--properties-file", "--driver-memory", "--driver-cores", "--executor-memory",
    "--executor-cores", "--num-executors", "--total-executor-cores", "--master", "--deploy-mode", "--name",
    "--packages", "--repositories", "--exclude-packages", "--archives", "--driver-java-options",
    "--driver-library-path", "--driver-class-path", "--queue", "--principal", "--keytab", "--supervise",
}  # fmt: skip
_LOG4J_LEVELS = {"ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"}
LOG4J2_BASE = """\
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.jetty.name = org.sparkproject.jetty
logger.jetty.level = warn
"""


class SmsparkError(Exception):
    """A failure reported the container's way: message file line and exit code."""

    def __init__(
        self, message: str, caused_by: BaseException, exit_code: int = 1, detail: str | None = None
    ) -> None:
        text = f"Algorithm Error: (caused by {type(caused_by).__name__}): {message}: {caused_by}"
        if detail:
            text += f" Last error: {detail}"
        super().__init__(text[:MESSAGE_LIMIT].strip())
        self.exit_code = exit_code


class NoSuchOption(ValueError):
    """An option smspark-submit does not have (named like click's error, as in the container)."""


class MissingParameter(ValueError):
    """The app (or an option's value) is missing."""


def input_error(message: str) -> SmsparkError:
    return SmsparkError("error preparing for spark submit", ValueError(message))


@dataclass(frozen=True)
class SubmitOptions:
    """The parsed command line, in the container's option order."""

    app: str
    app_arguments: tuple[str, ...] = ()
    class_: str | None = None
    jars: str | None = None
    py_files: str | None = None
    files: str | None = None
    spark_event_logs_s3_uri: str | None = None
    local_spark_event_logs_dir: str | None = None
    verbose: bool = False


def parse_args(argv: list[str]) -> SubmitOptions:
    """click's rules as the container sets them: options stop at the app; the rest passes through."""
    values: dict[str, object] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, inline = arg.partition("=")
        if name in _VALUE_OPTIONS:
            if eq:
                values[_VALUE_OPTIONS[name]] = inline
            elif i + 1 < len(argv):
                i += 1
                values[_VALUE_OPTIONS[name]] = argv[i]
            else:
                raise SmsparkError(
                    "Couldn't parse input.", MissingParameter(f"Option '{name}' requires an argument.")
                )
        elif arg in ("-v", "--verbose"):
            values["verbose"] = True
        else:
            hint = (
                " It is a spark-submit option that smspark-submit does not pass through: configure Spark "
                "with the spark-defaults classification (the processor's configuration) instead."
                if name in _SPARK_SUBMIT_ONLY
                else ""
            )
            raise SmsparkError("Couldn't parse input.", NoSuchOption(f"No such option: {name}.{hint}"))
        i += 1
    if i >= len(argv):
        raise SmsparkError("Couldn't parse input.", MissingParameter("Missing argument 'APP'."))
    return SubmitOptions(app=argv[i], app_arguments=tuple(argv[i + 1 :]), **values)  # type: ignore[arg-type]


def expand_paths(value: str, option: str) -> str:
    """Each comma-separated element: S3 URIs as given, a directory -> its top-level files (sorted)."""
    expanded: list[str] = []
    for element in value.split(","):
        element = element.strip()
        if not element:
            raise input_error(f"{option}: empty element in {value!r}")
        parsed = urlparse(element)
        if parsed.scheme not in ("", "file"):
            expanded.append(element)  # s3://, s3a://, hdfs://, http(s)://: Spark fetches them
            continue
        path = Path(parsed.path if parsed.scheme == "file" else element)
        if not path.is_absolute():
            raise input_error(f"{option}: file path {path} must be an absolute path to a file or directory")
        path = path.resolve()
        if path.is_dir():
            files = sorted(str(f.resolve()) for f in path.iterdir() if f.is_file())
            if not files:
                raise input_error(f"{option}: found zero files in {path}")
            expanded.extend(files)
        elif path.is_file():
            expanded.append(str(path))
        else:
            raise input_error(f"{option}: file path {path} does not exist")
    return ",".join(expanded)


@dataclass(frozen=True)
class Classification:
    """One EMR-style configuration entry."""

    name: str
    properties: dict[str, str]
    configurations: tuple[Classification, ...] = ()


def parse_configuration(data: object, where: str = "configuration") -> list[Classification]:
    """A dict or list of ``{Classification, Properties, Configurations}``, validated as the container does."""
    items = data if isinstance(data, list) else [data]
    result = []
    for n, item in enumerate(items):
        here = f"{where}[{n}]"
        if not isinstance(item, dict) or "Classification" not in item:
            raise input_error(f"{here}: expected an object with 'Classification' and 'Properties'")
        unknown = set(item) - {"Classification", "Properties", "Configurations"}
        if unknown:
            raise input_error(f"{here}: unknown keys {sorted(unknown)}")
        name, props = item["Classification"], item.get("Properties", {})
        if not isinstance(props, dict):
            raise input_error(f"{here}.Properties: expected an object of strings")
        allowed = (
            VALID_CLASSIFICATIONS
            + LOCAL_ONLY_CLASSIFICATIONS
            + (("export",) if where != "configuration" else ())
        )
        if name not in allowed:
            raise input_error(
                f"{here}.Classification: invalid classification {name!r}; must be one of {list(VALID_CLASSIFICATIONS)}"
            )
        nested = parse_configuration(item.get("Configurations", []), f"{here}.Configurations")
        if name.endswith("-env") and (not nested or any(c.name != "export" for c in nested)):
            raise input_error(f"{here}: '{name}' needs nested 'export' Configurations")
        result.append(Classification(name, {str(k): str(v) for k, v in props.items()}, tuple(nested)))
    return result


@dataclass
class SparkSettings:
    """What the classifications mean locally."""

    conf: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    log4j2: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _log4j1_to_log4j2(props: dict[str, str], settings: SparkSettings) -> None:
    ignored = []
    for n, (key, value) in enumerate(props.items()):
        level = value.split(",")[0].strip().upper()
        if key in ("log4j.rootCategory", "log4j.rootLogger") and level in _LOG4J_LEVELS:
            settings.log4j2.append(f"rootLogger.level = {level.lower()}")
        elif key.startswith("log4j.logger.") and level in _LOG4J_LEVELS:
            settings.log4j2 += [f"logger.sm{n}.name = {key[13:]}", f"logger.sm{n}.level = {level.lower()}"]
        else:
            ignored.append(key)
    if ignored:
        settings.warnings.append(
            f"spark-log4j: only log levels (log4j.rootCategory, log4j.logger.*) are applied locally "
            f"(Spark 4 uses log4j2); ignored: {', '.join(ignored)}"
        )


def settings_from_classifications(classifications: list[Classification], python: str) -> SparkSettings:
    """Map each classification to conf, env, log4j2 lines, or a warning that it is ignored locally."""
    s = SparkSettings()
    for c in classifications:
        if c.name == "spark-defaults":
            s.conf.update(c.properties)
        elif c.name == "core-site":
            s.conf.update({f"spark.hadoop.{k}": v for k, v in c.properties.items()})
        elif c.name == "spark-env":
            for export in c.configurations:
                s.env.update({k: _unquote(v) for k, v in export.properties.items()})
        elif c.name == "spark-log4j":
            _log4j1_to_log4j2(c.properties, s)
        elif c.name == "spark-log4j2":
            s.warnings.append("spark-log4j2 is applied locally but SageMaker's Spark container rejects it")
            s.log4j2 += [f"{k} = {v}" for k, v in c.properties.items()]
        else:
            s.warnings.append(
                f"configuration classification {c.name!r} is ignored by the local Spark runtime "
                "(no YARN/HDFS/Hive daemons run locally)"
            )
    for key in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"):
        if key in s.env and s.env[key] != python:
            s.warnings.append(
                f"spark-env {key}={s.env[key]} is ignored: the local runtime uses {python} (it has pyspark)"
            )
        s.env[key] = python
    for key in ("spark.master", "spark.submit.deployMode"):
        if key in s.conf:
            s.warnings.append(
                f"spark-defaults {key}={s.conf.pop(key)} is ignored: the local runtime runs the driver here"
            )
    return s


@dataclass(frozen=True)
class SparkCommand:
    """Everything main() needs to run spark-submit; built without touching /opt/ml."""

    argv: list[str]
    app: str
    env: dict[str, str]
    files: dict[str, str]  # path -> content, written before the run (log4j2 config)
    dirs: list[str]  # folders created before the run
    event_logs_staging: str
    event_logs_dir: str | None
    event_logs_s3_uri: str | None
    warnings: list[str]


def local_driver_memory() -> str:
    """Half of this machine's memory (at least 1 GiB) for the local[*] driver, which is also the executor.

    The container gives the driver 90% of the instance's memory; locally other processes share the
    machine, and Spark's own 1g default spills a cached data set of a few million rows to disk.
    """
    return f"{max(1024, machine_memory_mib() // 2)}m"


def on_this_machine(master: str) -> bool:
    """``local[...]``, or a ``spark://`` master on loopback (the local cluster's): the driver may bind
    127.0.0.1. Any other master's executors run elsewhere and must reach the driver at this machine's
    address, Spark's default."""
    parsed = urlparse(master)
    return master.startswith("local") or (
        parsed.scheme == "spark" and parsed.hostname in ("127.0.0.1", "localhost")
    )


def default_conf(work_dir: Path, master: str = DEFAULT_MASTER) -> dict[str, str]:
    """Our defaults, which spark-defaults may override: loopback driver (for a master on this machine),
    no UI, per-job scratch dirs."""
    loopback = {"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"}
    return (loopback if on_this_machine(master) else {}) | {
        "spark.driver.memory": local_driver_memory(),
        "spark.ui.enabled": "false",
        "spark.local.dir": str(work_dir / "spark-local"),
        "spark.sql.warehouse.dir": str(work_dir / "spark-warehouse"),
        "spark.eventLog.dir": (work_dir / "spark-events").as_uri(),
    }


def build_command(
    options: SubmitOptions,
    classifications: list[Classification],
    *,
    spark_home: Path,
    work_dir: Path,
    python: str,
    base_env: dict[str, str],
    master: str = DEFAULT_MASTER,
    defaults: dict[str, str] | None = None,
) -> SparkCommand:
    """The spark-submit argv and environment for one run (pure apart from expanding dependency paths).

    ``defaults`` (the local cluster's sizes) override ours; the user's spark-defaults override both."""
    settings = settings_from_classifications(classifications, python)
    conf = default_conf(work_dir, master) | (defaults or {}) | settings.conf
    derby = f"-Dderby.system.home={work_dir / 'derby'}"
    dirs = [str(work_dir / "spark-local"), str(work_dir / "derby"), str(work_dir / "spark-events")]
    files: dict[str, str] = {}
    java_opts = [conf.get("spark.driver.extraJavaOptions", ""), derby]
    if settings.log4j2:
        log4j_path = work_dir / "spark-conf" / "log4j2.properties"
        files[str(log4j_path)] = LOG4J2_BASE + "\n".join(settings.log4j2) + "\n"
        java_opts.append(f"-Dlog4j2.configurationFile={log4j_path.as_uri()}")
    conf["spark.driver.extraJavaOptions"] = " ".join(o for o in java_opts if o)
    if options.local_spark_event_logs_dir or options.spark_event_logs_s3_uri:
        conf["spark.eventLog.enabled"] = "true"  # the option wins, as in the container
        conf["spark.eventLog.dir"] = (work_dir / "spark-events").as_uri()
    event_dir = urlparse(conf["spark.eventLog.dir"])
    staging = event_dir.path if event_dir.scheme in ("", "file") else str(work_dir / "spark-events")
    dirs.append(staging)  # Spark fails at start if a local event log folder is missing
    argv = [str(spark_home / "bin" / "spark-submit"), "--master", master, "--deploy-mode", "client"]
    for key in sorted(conf):
        argv += ["--conf", f"{key}={conf[key]}"]
    if options.class_:
        argv += ["--class", options.class_]
    for flag, value in (
        ("--jars", options.jars),
        ("--py-files", options.py_files),
        ("--files", options.files),
    ):
        if value:
            argv += [flag, expand_paths(value, flag)]
    if options.verbose:
        argv.append("--verbose")
    argv += [options.app, *options.app_arguments]
    loopback = {"SPARK_LOCAL_IP": "127.0.0.1"} if on_this_machine(master) else {}
    env = dict(base_env) | {"SPARK_HOME": str(spark_home)} | loopback | settings.env
    return SparkCommand(
        argv=argv,
        app=options.app,
        env=env,
        files=files,
        dirs=sorted(set(dirs)),
        event_logs_staging=staging,
        event_logs_dir=options.local_spark_event_logs_dir,
        event_logs_s3_uri=options.spark_event_logs_s3_uri,
        warnings=settings.warnings,
    )


def find_spark_home() -> Path:
    """pyspark's folder (it ships bin/spark-submit and jars/), found without importing pyspark."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise SmsparkError("pyspark is not installed", ModuleNotFoundError("pip install pyspark"))
    home = Path(list(spec.submodule_search_locations)[0])
    if not (home / "bin" / "spark-submit").exists():
        raise SmsparkError("pyspark has no bin/spark-submit", FileNotFoundError(str(home / "bin")))
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise SmsparkError("Spark needs Java 17 or 21", FileNotFoundError("no java on PATH and no JAVA_HOME"))
    return home
