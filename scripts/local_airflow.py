#!/usr/bin/env python3
"""Run this repository's pipeline DAGs on a local Airflow, with the local (Docker-free) processing backend.

    scripts/local_airflow.py run [--dag sklearn|pyspark|scala|<dag_id>] [--conf JSON]
        one DAG run through the real Airflow CLI (`airflow dags test`); exits non-zero unless the run
        ends `success`, then prints where the outputs, the validation report and the jobs are.
    scripts/local_airflow.py standalone [--port 8080]
        `airflow standalone` with this repo's DAGs, to trigger the pipelines from the UI.

The environment is the repo's own: AIRFLOW_HOME=<repo>/.airflow (or --airflow-home), the repo's dags and
plugins folders, no example DAGs, SQLite, the connection `aws_default` on the LOCAL backend (jobs run on
this machine, never on AWS), and SM_PROCESSING_HOME (default <repo>/.sm-processing) for the job store.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAGS_DIR = REPO / "dags"
PLUGINS_DIR = REPO / "plugins"
JAR_FILE = REPO / "scala_jobs" / "target" / "abalone-jobs.jar"
JAR_BUILD = REPO / "scala_jobs" / "build.sh"
DAG_IDS = {e: f"abalone_{e}_pipeline" for e in ("sklearn", "pyspark", "scala")}
TASKS = ("feature_engineering", "split", "validation")
LOCAL_CONNECTION = json.dumps({"conn_type": "aws", "extra": {"processing_backend": "local"}})


class LocalAirflowError(RuntimeError):
    """A step of the local run failed; the message says which and what to do."""


def airflow_env(airflow_home: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every Airflow command of this script runs with (see the module doc)."""
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
            # The repo's commands always select the local backend (never silently AWS, nor the reverse).
            "AIRFLOW_CONN_AWS_DEFAULT": LOCAL_CONNECTION,
        }
    )
    # `airflow standalone` starts its components as `airflow ...` from PATH: this venv's comes first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), *filter(None, [env.get("PATH")])])
    env["SM_PROCESSING_HOME"] = str(Path(env.get("SM_PROCESSING_HOME") or REPO / ".sm-processing").resolve())
    return env


def airflow(args: list[str], env: dict[str, str], *, quiet: bool = False) -> subprocess.CompletedProcess:
    """Run the Airflow CLI of this Python (``python -m airflow``); quiet captures its output."""
    command = [sys.executable, "-m", "airflow", *args]
    if quiet:
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    return subprocess.run(command, env=env, check=False)


def ensure_db(env: dict[str, str]) -> None:
    """``airflow db migrate`` once per Airflow version (a stamp file beside the database skips it)."""
    home = Path(env["AIRFLOW_HOME"])
    stamp = home / ".db-migrated"
    wanted = f"apache-airflow {version('apache-airflow')}"
    if (home / "airflow.db").is_file() and stamp.is_file() and stamp.read_text().strip() == wanted:
        return
    home.mkdir(parents=True, exist_ok=True)
    print(f"Preparing the Airflow database in {home} (airflow db migrate) ...", flush=True)
    done = airflow(["db", "migrate"], env, quiet=True)
    if done.returncode != 0:
        raise LocalAirflowError(f"`airflow db migrate` failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    stamp.write_text(wanted + "\n")


def ensure_jar() -> None:
    """Build the Scala jobs' jar when it is missing or older than its sources (offline build)."""
    sources = [p for p in (REPO / "scala_jobs").rglob("*") if p.suffix in (".scala", ".sh", ".sbt")]
    if JAR_FILE.is_file() and all(p.stat().st_mtime <= JAR_FILE.stat().st_mtime for p in sources):
        return
    if not JAR_BUILD.is_file():
        raise LocalAirflowError(f"{JAR_FILE} is missing and there is no {JAR_BUILD} to build it")
    print(f"Building {JAR_FILE.relative_to(REPO)} with {JAR_BUILD.relative_to(REPO)} ...", flush=True)
    if subprocess.run(["bash", str(JAR_BUILD)], cwd=REPO, check=False).returncode != 0:
        raise LocalAirflowError(f"{JAR_BUILD} failed; see its output above")


def resolve_dag_id(name: str) -> str:
    dag_id = DAG_IDS.get(name, name)
    if dag_id not in DAG_IDS.values():
        choices = ", ".join([*DAG_IDS, *DAG_IDS.values()])
        raise LocalAirflowError(f"--dag: unknown pipeline {name!r}; expected one of {choices}")
    return dag_id


def find_run(dag_id: str, logical_date: datetime, env: dict[str, str]) -> dict:
    """The DAG run with this logical date, as ``airflow dags list-runs -o json`` reports it."""
    listed = airflow(["dags", "list-runs", dag_id, "-o", "json"], env, quiet=True)
    if listed.returncode != 0:
        raise LocalAirflowError(f"`airflow dags list-runs {dag_id}` failed:\n{listed.stderr[-3000:]}")
    lines = [line for line in listed.stdout.splitlines() if line.startswith("[{") or line == "[]"]
    runs = json.loads(lines[-1]) if lines else []
    for run in runs:
        when = run.get("logical_date")
        if when and datetime.fromisoformat(when) == logical_date:
            return run
    raise LocalAirflowError(f"no run of {dag_id} at {logical_date.isoformat()} in `airflow dags list-runs`")


def run_jobs(dag_id: str, run: dict, home: Path) -> list[dict]:
    """The last processing job of each task of the run: the newest job of the task's base name created
    since the run started (names also hash the deployment's namespace, so they are found, not derived)."""
    from sagemaker_processing_provider.local.backend import LocalProcessingBackend

    backend = LocalProcessingBackend(home=home)
    started = datetime.fromisoformat(run["start_date"]) if run.get("start_date") else None
    jobs = []
    for task_id in TASKS:
        base = f"{dag_id}-{task_id}".replace("_", "-")
        kwargs = {"NameContains": base, "SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 1}
        if started:
            kwargs["CreationTimeAfter"] = started
        found = backend.list_processing_jobs(**kwargs)["ProcessingJobSummaries"]
        if found:
            jobs.append(backend.describe_processing_job(ProcessingJobName=found[0]["ProcessingJobName"]))
    return jobs


def print_summary(dag_id: str, run: dict, env: dict[str, str]) -> None:
    """Where the outputs, the validation report and the jobs of this run are."""
    home = Path(env["SM_PROCESSING_HOME"])
    jobs = run_jobs(dag_id, run, home)
    print(f"\nDAG run {dag_id} / {run['run_id']}: {run['state']}")
    print(f"Job store (SM_PROCESSING_HOME): {home}")
    print("Processing jobs (details: `sm-processing describe <name>`, `sm-processing logs <name>`):")
    for job in jobs:
        ended, started = job.get("ProcessingEndTime"), job.get("ProcessingStartTime")
        took = f"{(_dt(ended) - _dt(started)).total_seconds():6.1f} s" if ended and started else "       "
        print(f"  {job['ProcessingJobStatus']:<10} {took}  {job['ProcessingJobName']}")
    outputs = {
        o["OutputName"]: o["S3Output"]["S3Uri"]
        for job in jobs
        for o in job.get("ProcessingOutputConfig", {}).get("Outputs", [])
    }
    if outputs:
        print("Outputs:")
        for name, uri in outputs.items():
            print(f"  {name:<11} {display(uri)}")
    if "report" in outputs:
        report = display(outputs["report"]).rstrip("/")
        print(f"Validation report: {report}/validation_report.md (and validation_report.json)")
        result = _report_result(Path(report))
        if result:
            print(f"  {result}")


def display(uri: str) -> str:
    """A ``file://`` URI as the plain path a user can open; other URIs unchanged."""
    return uri.removeprefix("file://") if uri.startswith("file:///") else uri


def _report_result(report_dir: Path) -> str | None:
    """The report's overall result (local reports only): its JSON ``status``, else the Markdown title."""
    try:
        status = json.loads((report_dir / "validation_report.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        status = None
    if status:
        return f"Result: {str(status).upper()}"
    md = report_dir / "validation_report.md"
    lines = md.read_text().splitlines() if md.is_file() else []
    return next((line.lstrip("# ") for line in lines if "PASSED" in line or "FAILED" in line), None)


def _dt(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def command_run(args: argparse.Namespace) -> int:
    dag_id = resolve_dag_id(args.dag)
    if args.conf is not None:
        try:
            json.loads(args.conf)
        except ValueError as exc:
            raise LocalAirflowError(f"--conf: expected a JSON object, got {args.conf!r} ({exc})") from exc
    env = airflow_env(args.airflow_home)
    ensure_db(env)
    if dag_id == DAG_IDS["scala"]:
        ensure_jar()
    logical_date = datetime.now(UTC).replace(microsecond=0)
    # -f: parse only this DAG's file (the other pipelines' files would be parsed, twice, for nothing)
    test = ["dags", "test", dag_id, logical_date.isoformat(), "-f", str(DAGS_DIR / f"{dag_id}.py")]
    test += ["--conf", args.conf] if args.conf else []
    print(f"Running {dag_id} (airflow {' '.join(test)}), local backend, jobs in {env['SM_PROCESSING_HOME']}")
    code = airflow(test, env).returncode
    run = find_run(dag_id, logical_date, env)
    print_summary(dag_id, run, env)
    if run["state"] != "success" or code != 0:
        print(
            f"FAILED: the DAG run ended {run['state']!r} (airflow dags test exit code {code})",
            file=sys.stderr,
        )
        return 1
    return 0


def command_standalone(args: argparse.Namespace) -> int:
    env = airflow_env(args.airflow_home)
    env["AIRFLOW__API__PORT"] = str(args.port)
    env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://localhost:{args.port}/execution/"
    ensure_db(env)
    if not JAR_FILE.is_file():
        print(
            f"Note: {JAR_FILE.relative_to(REPO)} is not built: run `make jar` before triggering the Scala DAG."
        )
    print(
        f"Starting Airflow standalone on http://localhost:{args.port} (AIRFLOW_HOME={env['AIRFLOW_HOME']}).\n"
        "Login: user `admin`; the password is printed below and saved in "
        f"{Path(env['AIRFLOW_HOME']) / 'simple_auth_manager_passwords.json.generated'}.\n"
        "DAGs start paused: unpause one or use Trigger (with Params) in the UI. Ctrl-C stops everything.",
        flush=True,
    )
    os.execve(sys.executable, [sys.executable, "-m", "airflow", "standalone"], env)
    return 0  # not reached


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--airflow-home", type=Path, default=REPO / ".airflow", help="AIRFLOW_HOME (default: <repo>/.airflow)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one DAG run with `airflow dags test`")
    run.add_argument("--dag", default="sklearn", help="sklearn|pyspark|scala or a DAG id (default: sklearn)")
    run.add_argument("--conf", help='Params as JSON, e.g. \'{"seed": 7, "train_ratio": 0.8}\'')
    run.set_defaults(func=command_run)
    standalone = sub.add_parser("standalone", help="airflow standalone with these DAGs")
    standalone.add_argument("--port", type=int, default=8080)
    standalone.set_defaults(func=command_standalone)
    args = parser.parse_args(argv)
    args.airflow_home = args.airflow_home.expanduser().resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return args.func(args)
    except LocalAirflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
