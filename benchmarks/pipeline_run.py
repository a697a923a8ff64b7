"""``make run``: the ``abalone_sklearn_pipeline`` run duration in ``airflow dags test`` (goal <= 15 s).

    .venv/bin/python benchmarks/pipeline_run.py [--runs 3]

Runs ``airflow dags test abalone_sklearn_pipeline`` exactly as ``make run`` does (the environment of
``scripts/local_airflow.py``: the repo's DAGs, SQLite, the local backend), variants interleaved:

- ``shipped``: as the repo is;
- ``2 s polls``: the task's wait sleeps its whole poll delay (0.25 s doubling to 2 s) as before,
  instead of ending when the job's state file changes (``LocalBackend.wait_for_change``);
- ``no bytecode cache``: no ``.pyc`` readable or written (``PYTHONDONTWRITEBYTECODE=1``, an empty
  ``PYTHONPYCACHEPREFIX``), as a venv installed by uv without ``--compile-bytecode`` in this sandbox.

It prints Airflow's ``run_duration`` (from the logical date, taken just before the CLI starts, to the
run's end: the issue's figure), the whole process's wall time, the jobs' own time (start -> end in the
job store), and the rest split into CLI start (to the first task), per-task overhead before the job is
created and after it ends.

Profile (a stack sampler over all threads of ``airflow dags test``, and the task logs; 2 cores). At
load 5, one run of 17.6 s: 4.4 s from the CLI's start to filling the DagBag (importing Airflow, its
configuration, ``configuration.mask_secrets`` importing the task runner), 1 s filling the DagBag twice
and creating the run, then 7.3 s from the first task's start to Airflow's "Task started": ``dags
test``'s in-process execution API starting (importing its FastAPI app, cadwyn generating its versioned
routers, ~2 s sampled, and creating its client); the next tasks start in ~0.1 s. Our operator then
needs ~0.1-0.3 s to build, validate and create each job. Under load 5-7 (41 s runs) the same parts
grew, and the first run on a machine adds ~4 s importing the SageMaker SDK to resolve the image URI
(cached in ``~/.cache`` after). Each wait used to lose on average half a poll interval (up to 2 s)
after its job had ended: now ~50 ms. Without ``.pyc`` every module of Airflow, FastAPI, pydantic and
the SDK compiles on each run (1.45x). Left: Airflow's own start, once per ``dags test`` (~12 s at load
5), and the jobs (their benchmarks).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import local_airflow  # noqa: E402  (the repo's own `make run` environment)

DAG_ID = "abalone_sklearn_pipeline"
GOAL_S = 15.0
# `python -m airflow` with the local backend's wait reverted to a plain sleep (the dags test tasks run
# in this process, so the patch reaches them).
POLL_ONLY = (
    "import runpy, sys\n"
    "from sagemaker_processing_provider.backends.base import ClientBackend\n"
    "from sagemaker_processing_provider.backends.local import LocalBackend\n"
    "LocalBackend.wait_for_change = ClientBackend.wait_for_change\n"
    "sys.argv = ['airflow', *sys.argv[1:]]\n"
    "runpy.run_module('airflow', run_name='__main__')\n"
)
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+)Z")


def _time(line: str) -> datetime | None:
    match = STAMP.match(line)
    return datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC) if match else None


def run_once(variant: str, env: dict[str, str], jobs_home: Path) -> dict[str, float]:
    logical = datetime.now(UTC).replace(microsecond=0)
    args = ["dags", "test", DAG_ID, logical.isoformat()]
    cmd = (
        [sys.executable, "-c", POLL_ONLY, *args]
        if variant == "2 s polls"
        else [sys.executable, "-m", "airflow", *args]
    )
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    log = done.stdout + done.stderr
    duration = re.search(r"run_duration=([\d.]+), state=(\w+)", log)
    if done.returncode != 0 or not duration or duration.group(2) != "success":
        raise SystemExit(f"{variant}: dags test failed ({done.returncode}):\n{log[-3000:]}")
    lines = log.splitlines()
    first_task = next(_time(x) for x in lines if "[DAG TEST] starting task_id=" in x)
    created = [_time(x) for x in lines if "Started local processing job" in x]
    ended = [_time(x) for x in lines if re.search(r"Processing job \S+ Completed", x)]
    starts = [_time(x) for x in lines if "[DAG TEST] starting task_id=" in x]
    ends = [_time(x) for x in lines if "[DAG TEST] end task" in x]
    names = re.findall(r"Started local processing job (\S+)", log)
    job_seconds = 0.0
    for name in names:
        state = json.loads((jobs_home / "jobs" / name / "state.json").read_text())
        job_seconds += (
            datetime.fromisoformat(state["ProcessingEndTime"])
            - datetime.fromisoformat(state["ProcessingStartTime"])
        ).total_seconds()
    return {
        "run_duration": float(duration.group(1)),
        "wall": wall,
        "jobs": job_seconds,
        "cli start": (first_task - logical).total_seconds(),
        "task -> job created": sum((c - s).total_seconds() for s, c in zip(starts, created, strict=True)),
        "job done -> task end": sum((e - d).total_seconds() for d, e in zip(ended, ends, strict=True)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args(argv).runs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = local_airflow.airflow_env(
            REPO / ".airflow", {**os.environ, "SM_PROCESSING_HOME": str(root / "store")}
        )
        local_airflow.ensure_db(base)
        variants = {
            "shipped": base,
            "2 s polls": base,
            "no bytecode cache": {
                **base,
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPYCACHEPREFIX": str(root / "pyc"),
            },
        }
        run_once("shipped", base, root / "store")  # warm: image-URI cache, DB, OS file cache
        results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        for _ in range(runs):
            for variant, env in variants.items():
                results[variant].append(run_once(variant, env, root / "store"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"machine: {local_airflow_cpu()}, {os.cpu_count()} cores, load average {load}; "
        f"Python {platform.python_version()}; median of {runs} runs each, interleaved\n"
    )
    columns = ["run_duration", "wall", "jobs", "cli start", "task -> job created", "job done -> task end"]
    print("| variant | " + " | ".join(f"{c} (s)" for c in columns) + " | vs shipped |")
    print("|---|" + "---:|" * (len(columns) + 1))
    shipped = statistics.median(r["run_duration"] for r in results["shipped"])
    for variant, rows in results.items():
        med = {c: statistics.median(r[c] for r in rows) for c in columns}
        cells = " | ".join(f"{med[c]:.1f}" for c in columns)
        print(f"| {variant} | {cells} | {med['run_duration'] / shipped:.2f}x |")
    verdict = "meets" if shipped <= GOAL_S else "MISSES"
    print(f"\nshipped run_duration {shipped:.1f} s: {verdict} the {GOAL_S:.0f} s goal")
    return 0


def local_airflow_cpu() -> str:
    info = Path("/proc/cpuinfo")
    models = [x.split(":", 1)[1].strip() for x in info.read_text().splitlines() if x.startswith("model name")]
    return models[0] if models else platform.machine()


if __name__ == "__main__":
    sys.exit(main())
