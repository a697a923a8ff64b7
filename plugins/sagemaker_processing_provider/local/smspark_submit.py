"""A local ``smspark-submit``: the Spark processing image's entrypoint, run on the installed pyspark.

The local backend puts a shim named ``smspark-submit`` first on ``PATH`` that runs this module, inside
a mount namespace where ``/opt/ml`` is the host's folder and the cwd is the host's work dir. The CLI is
the container's (``aws/sagemaker-spark-container`` ``src/smspark/cli.py``): ``--class``, ``--jars``,
``--py-files``, ``--files``, ``--spark-event-logs-s3-uri``, ``--local-spark-event-logs-dir``, ``-v``,
then the app and its arguments, passed through unchanged. Other spark-submit options are refused, as
there; Spark is configured through ``/opt/ml/processing/input/conf/configuration.json``.

What differs from the container, on purpose:

- The cluster manager. ``InstanceCount`` 1: master ``local[*]`` (this machine's cores). ``InstanceCount``
  N > 1: a Spark standalone cluster (``spark_cluster``: a master and a worker per host, sized by
  ``spark_resources``) instead of YARN; the driver runs on the primary (``sorted(hosts)[0]``) in client
  mode, as there, and the app sees the primary's ``/opt/ml`` (executors: their host's). ``SM_PROCESSING_SPARK_MASTER`` (e.g.
  ``spark://host:7077``, ``k8s://https://...``, ``local[2]``) sends the app to that master instead:
  no local cluster, the other hosts exit 0 at once. Where hosts cannot run side by side (the shared
  sandbox, see ``sandbox``), a multi-host job runs ``local[*]`` on the primary.
- The driver binds to loopback (unless the master is elsewhere); the UI is off unless
  ``spark-defaults`` turns it on; scratch space, the SQL warehouse and Derby's home live in the work
  dir, so concurrent jobs never share them.
- ``spark-defaults`` -> ``--conf`` (user values win over ours), ``spark-env`` -> the environment,
  ``core-site`` -> ``spark.hadoop.*``, ``spark-log4j`` (log4j 1 levels) -> a log4j2 file; the
  classifications that configure YARN/Hive/Hadoop daemons are ignored with a warning.
- ``--jars/--py-files/--files``: each comma-separated element is expanded if it is a directory (the
  container expands only when the whole string is one directory).

Errors are written as the container writes them: one line ``Algorithm Error: (caused by X): ...`` in
``/opt/ml/output/message`` (1024 characters at most), exit code = spark-submit's, or 1 for ours.
``SM_PROCESSING_OPT_ML`` replaces ``/opt/ml`` (for tests only: jobs always see ``/opt/ml``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from sagemaker_processing_provider.local import smspark_run, spark_cluster
from sagemaker_processing_provider.local.smspark_options import (
    DEFAULT_MASTER,
    MASTER_ENV,
    MESSAGE_LIMIT,
    OPT_ML_ENV,
    SmsparkError,
    SparkCommand,
    build_command,
    find_spark_home,
    input_error,
    parse_args,
    parse_configuration,
    settings_from_classifications,
)
from sagemaker_processing_provider.local.spark_rendezvous import JOB_DIR_ENV, meeting_folder
from sagemaker_processing_provider.local.spark_resources import memory_mib, worker_shape

log = logging.getLogger("smspark-submit")


def main(argv: list[str] | None = None) -> int:
    """Entrypoint of the shim; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    opt_ml = Path(os.environ.get(OPT_ML_ENV, "/opt/ml"))
    argv = list(sys.argv[1:] if argv is None else argv)
    log.info("Parsing arguments. argv: %s", argv)
    try:
        return _submit(argv, opt_ml)
    except SmsparkError as exc:
        message, code = str(exc), exc.exit_code
    except spark_cluster.SparkClusterError as exc:
        message, code = str(SmsparkError("local Spark cluster", exc)), 1
    except Exception as exc:  # anything else is ours: report it the container's way
        log.exception("smspark-submit failed")
        message, code = str(SmsparkError("error running Spark job", exc)), 1
    write_message(opt_ml, message)
    log.error("exiting with code %s: %s", code, message)
    return code


def _submit(argv: list[str], opt_ml: Path) -> int:
    options = parse_args(argv)
    resources = read_json(
        [opt_ml / "input/config/resourceconfig.json", opt_ml / "config/resourceconfig.json"]
    )
    resources = resources if isinstance(resources, dict) else {"current_host": "algo-1", "hosts": ["algo-1"]}
    master = os.environ.get(MASTER_ENV, "").strip()
    plan = None if master else cluster_plan(resources, dict(os.environ))
    if plan is None and not is_primary(resources):
        log.info(
            "%s is a worker: the primary %s runs the Spark app with master %s; exiting 0",
            resources["current_host"], sorted(resources["hosts"])[0], master or DEFAULT_MASTER,
        )  # fmt: skip
        return 0
    raw = read_json(
        [opt_ml / "input/data/conf/configuration.json", opt_ml / "processing/input/conf/configuration.json"]
    )
    classifications = parse_configuration(raw) if raw is not None else []
    spark_home, work_dir, env = find_spark_home(), Path.cwd(), dict(os.environ)

    def command(master: str, defaults: dict[str, str] | None = None) -> SparkCommand:
        built = build_command(
            options, classifications, spark_home=spark_home, work_dir=work_dir, python=sys.executable,
            base_env=env, master=master, defaults=defaults,
        )  # fmt: skip
        for warning in built.warnings:
            log.warning("%s", warning)
        return built

    if plan is None:
        if len(resources.get("hosts", [])) > 1:
            log.warning("%d hosts: the Spark app runs with master %s", len(resources["hosts"]), master)
        return smspark_run.run(command(master or DEFAULT_MASTER))
    user_env = settings_from_classifications(classifications, sys.executable)
    daemon_env = spark_cluster.daemon_env(env | user_env.env, spark_home, work_dir)
    if plan.host != plan.primary:
        return spark_cluster.serve_worker(plan, daemon_env, work_dir, spark_home)
    check_executor_fits(user_env.conf, plan)
    with spark_cluster.primary_cluster(plan, daemon_env, work_dir, spark_home) as cluster:
        submit = command(cluster.url, plan.driver_defaults())
        try:
            return smspark_run.run(submit, on_start=cluster.watch, on_exit=cluster.shutdown)
        except SmsparkError as exc:
            if cluster.failure:  # the cluster ended the app: say why, not only that spark-submit failed
                raise cluster.failure from exc
            raise


def cluster_plan(resources: dict, env: dict[str, str]) -> spark_cluster.ClusterPlan | None:
    """This host's part in a local cluster, or None: one host, or hosts that cannot meet (see module doc)."""
    hosts = tuple(sorted(resources.get("hosts") or ["algo-1"]))
    if len(hosts) < 2:
        return None
    if not env.get(JOB_DIR_ENV):
        log.warning(
            "%d hosts, but they cannot run side by side here (no %s: the shared sandbox, or not the local "
            "backend): the primary runs the app with master %s", len(hosts), JOB_DIR_ENV, DEFAULT_MASTER,
        )  # fmt: skip
        return None
    instance_type = resources.get("current_instance_type", "ml.m5.xlarge")
    try:
        shape, timeout = worker_shape(instance_type, len(hosts)), spark_cluster.cluster_timeout(env)
    except ValueError as exc:
        raise input_error(str(exc)) from exc
    folder = meeting_folder(Path(env[JOB_DIR_ENV]))
    return spark_cluster.ClusterPlan(resources["current_host"], hosts, folder, shape, timeout)


def check_executor_fits(user_conf: dict[str, str], plan: spark_cluster.ClusterPlan) -> None:
    """An executor larger than a worker would never start and the app would wait forever: refuse it,
    as YARN refuses a container above its maximum allocation."""
    worker = plan.worker
    for key, limit, unit, parse in (
        ("spark.executor.memory", worker.memory_mib, "MiB", memory_mib),
        ("spark.executor.cores", worker.cores, "cores", int),
    ):
        if key in user_conf:
            try:
                wanted = parse(user_conf[key])
            except ValueError as exc:
                raise input_error(f"spark-defaults {key}: {exc}") from exc
            if wanted > limit:
                raise input_error(
                    f"spark-defaults {key}={user_conf[key]} does not fit a local Spark worker ({limit} {unit}: "
                    f"{plan.worker.cores} cores and {plan.worker.memory_mib} MiB for each of the "
                    f"{len(plan.hosts)} instances on this machine, see README 'Spark on several instances')"
                )


def is_primary(resource_config: dict) -> bool:
    """The container's rule: the primary is the first host name in sorted order."""
    hosts = resource_config.get("hosts") or ["algo-1"]
    return resource_config.get("current_host", "algo-1") == sorted(hosts)[0]


def read_json(paths: list[Path]) -> object | None:
    """The first of the container's candidate paths that exists, parsed; None if none exists."""
    for path in paths:
        if path.exists():
            try:
                return json.loads(path.read_text())
            except ValueError as exc:
                raise input_error(f"{path} is not valid JSON: {exc}") from exc
    return None


def write_message(opt_ml: Path, text: str) -> None:
    """The container's failure line, where SageMaker reads ExitMessage."""
    path = opt_ml / "output" / "message"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text[:MESSAGE_LIMIT])


if __name__ == "__main__":
    sys.exit(main())
