"""A local ``smspark-submit``: the Spark processing image's entrypoint, run on the installed pyspark.

The local backend puts a shim named ``smspark-submit`` first on ``PATH`` that runs this module, inside
a mount namespace where ``/opt/ml`` is the host's folder and the cwd is the host's work dir. The CLI is
the container's (``aws/sagemaker-spark-container`` ``src/smspark/cli.py``): ``--class``, ``--jars``,
``--py-files``, ``--files``, ``--spark-event-logs-s3-uri``, ``--local-spark-event-logs-dir``, ``-v``,
then the app and its arguments, passed through unchanged. Other spark-submit options are refused, as
there; Spark is configured through ``/opt/ml/processing/input/conf/configuration.json``.

What differs from the container, on purpose:

- Master ``local[*]`` (this machine's cores) instead of YARN over ``InstanceCount`` x the instance's
  vCPUs, which do not exist here. ``SM_PROCESSING_SPARK_MASTER`` overrides it (e.g. ``local[2]``).
  With several hosts only the primary (``sorted(hosts)[0]``) runs the app; the others exit 0 at once
  (in the container they only serve the primary's executors). The app sees the primary's ``/opt/ml``.
- The driver binds to loopback; the UI is off unless ``spark-defaults`` turns it on; scratch space,
  the SQL warehouse and Derby's home live in the work dir, so concurrent jobs never share them.
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

import logging
import os
import sys
from pathlib import Path

from sagemaker_processing_provider.local import smspark_run
from sagemaker_processing_provider.local.smspark_options import (
    DEFAULT_MASTER,
    MASTER_ENV,
    OPT_ML_ENV,
    SmsparkError,
    build_command,
    find_spark_home,
    is_primary,
    parse_args,
    parse_configuration,
    read_json,
    write_message,
)

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
    if not is_primary(resources):
        primary = sorted(resources["hosts"])[0]
        log.info(
            "%s is a worker: the primary %s runs the Spark app locally; exiting 0",
            resources["current_host"],
            primary,
        )
        return 0
    raw = read_json(
        [opt_ml / "input/data/conf/configuration.json", opt_ml / "processing/input/conf/configuration.json"]
    )
    classifications = parse_configuration(raw) if raw is not None else []
    master = os.environ.get(MASTER_ENV, "").strip() or DEFAULT_MASTER
    command = build_command(
        options, classifications, spark_home=find_spark_home(), work_dir=Path.cwd(), python=sys.executable,
        base_env=dict(os.environ), master=master,
    )  # fmt: skip
    if len(resources.get("hosts", [])) > 1:
        log.warning("%d hosts: Spark runs on this machine with master %s", len(resources["hosts"]), master)
    for warning in command.warnings:
        log.warning("%s", warning)
    return smspark_run.run(command)


if __name__ == "__main__":
    sys.exit(main())
