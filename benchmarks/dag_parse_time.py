"""DAG file parse time: what each pipeline DAG file costs the DAG processor after ``import airflow.sdk``.

Each measurement runs in a fresh interpreter (nothing cached in ``sys.modules``): it imports
``airflow.sdk`` (not timed: the DAG processor has it loaded), then times
1. ``provider``: importing the operator module the DAG file uses (our provider package), and
2. ``dag file``: executing the DAG file itself (the shared ``abalone.pipeline`` module + DAG objects);
``total`` = both, which is what the DAG processor pays per file. Median (and min) over ``--runs``,
files interleaved; the same as CPU time (``time.process_time``) too, which other work on a shared
machine sways much less than wall time. A baseline row times a minimal ``@daily`` DAG file with no operator: Airflow's own
cost (its timetable modules load with the first scheduled DAG, and a running DAG processor usually has
them loaded already), so ``total - baseline`` is this project's share; goal (issue 10): <= 5 ms (it was
50 ms for the total). Also lists the modules over 5 ms that parsing pulled in.

The provider package and ``dags/abalone`` are byte-compiled first (``compileall``), as they are after a
DAG processor's first parse: with ``PYTHONDONTWRITEBYTECODE`` set (this sandbox), no ``.pyc`` was ever
written for them and every parse compiled them from source (~2 ms for ``abalone/pipeline.py`` alone).

Profile (``-X importtime`` and cProfile with process time, 2 cores): of the +15-18 ms over the baseline
before, ~6 ms was building the five frozen params dataclasses of ``request/params.py`` (``exec`` of
their generated methods), ~3 ms importing what only a running task needs (job watching, attach,
step cache, lineage, and through them the stager and errors), ~2 ms compiling ``abalone/pipeline.py``,
~3 ms Airflow's validation of the pipeline's 8 Params (jsonschema, once per DAG) and ~1.5 ms the
three operators (``BaseOperator`` deep-copies the DAG's Params for each). The dataclasses are now
built on first use from their declarations (``spec()`` reads those at parse time) and the task-only
modules are imported where they are used; what remains is Airflow's own work for our Params and
operators, the operator class definitions and ``abalone/pipeline.py``.

    .venv/bin/python benchmarks/dag_parse_time.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
GOAL_MS = 5.0  # over the baseline
FILES = {
    "abalone_sklearn_pipeline.py": "sagemaker_processing_provider.operators.sklearn",
    "abalone_pyspark_pipeline.py": "sagemaker_processing_provider.operators.spark",
    "abalone_scala_pipeline.py": "sagemaker_processing_provider.operators.spark",
}

BASELINE = """from datetime import datetime, timezone
from airflow.sdk import DAG
dag = DAG("baseline", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False)
"""

MEASURE = r"""
import importlib, importlib.util, json, sys, time
import airflow.sdk  # already loaded in the DAG processor: not timed
dags, dag_file, operator_module = sys.argv[1:4]
sys.path.append(dags)
before = set(sys.modules)
c0, t0 = time.process_time(), time.perf_counter()
importlib.import_module(operator_module)
t1 = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", f"{dags}/{dag_file}")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
c2, t2 = time.process_time(), time.perf_counter()
assert module.dag.dag_id, "no DAG"
new = sorted({m.split(".")[0] for m in set(sys.modules) - before})
cpu = (c2 - c0) * 1e3
print("MEASURE " + json.dumps({"provider": (t1 - t0) * 1e3, "dag": (t2 - t1) * 1e3, "cpu": cpu, "new": new}))
"""


def measure(dag_file: str, operator_module: str, env: dict[str, str], dags: Path = DAGS) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(dags), dag_file, operator_module],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("MEASURE ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"measuring {dag_file} failed:\n{done.stderr[-3000:]}")
    return json.loads(line.removeprefix("MEASURE "))


def slow_imports(dag_file: str, operator_module: str, env: dict[str, str], min_ms: float = 5.0) -> list[str]:
    """Top-level modules whose import took >= min_ms (cumulative, ``-X importtime``) while parsing."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", MEASURE, str(DAGS), dag_file, operator_module],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stderr.splitlines()
    start = next((i for i, x in enumerate(lines) if x.rstrip().endswith("| airflow.sdk")), 0)
    found = []
    for row in lines[start + 1 :]:
        parts = row.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        cumulative_ms = int(parts[1]) / 1000
        if cumulative_ms >= min_ms and not name.startswith("  "):
            found.append(f"{name.strip()} {cumulative_ms:.0f} ms")
    return found


def row(name: str, runs: list[dict], base: float, base_cpu: float) -> str:
    """One markdown table row: medians of the two phases, median/min of their sum, sum over baseline,
    and the same sum as CPU time (less swayed by other work on the machine than wall time)."""
    provider = statistics.median(r["provider"] for r in runs)
    dag = statistics.median(r["dag"] for r in runs)
    totals = [r["provider"] + r["dag"] for r in runs]
    total = statistics.median(totals)
    cpu = statistics.median(r["cpu"] for r in runs)
    ok = "yes" if total - base <= GOAL_MS else "NO"
    return (
        f"| {name} | {provider:.1f} | {dag:.1f} | {total:.1f} | {min(totals):.1f} | {total - base:+.1f} | {ok} "
        f"| {cpu:.1f} | {cpu - base_cpu:+.1f} |"
    )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        models = [
            x.split(":", 1)[1].strip() for x in cpuinfo.read_text().splitlines() if x.startswith("model name")
        ]
        cpu = models[0] if models else cpu
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, load average {load}; Python {platform.python_version()}, "
        f"Airflow {version('apache-airflow')}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh interpreters per DAG file (default 10)")
    args = parser.parse_args(argv)
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    # As after a DAG processor's first parse: the provider and the DAGs' shared module byte-compiled.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "plugins"), str(DAGS / "abalone")], check=True
    )
    env.setdefault("AIRFLOW_HOME", str(REPO / ".airflow"))
    print(f"Machine: {machine()}\n")
    print(
        f"| DAG file | provider import (ms) | DAG file (ms) | total, median of {args.runs} (ms) | min (ms) "
        f"| total - baseline (ms) | total - baseline <= {GOAL_MS:.0f} ms | CPU (ms) | CPU - baseline (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|")
    notes = {}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "baseline_dag.py").write_text(BASELINE)
        cases = {"baseline_dag.py": ("airflow.sdk", Path(tmp)), **{f: (m, DAGS) for f, m in FILES.items()}}
        runs: dict[str, list[dict]] = {name: [] for name in cases}
        for _ in range(args.runs):  # interleaved, so a change of machine load hits every file alike
            for name, (module, folder) in cases.items():
                runs[name].append(measure(name, module, env, folder))
    baseline = runs.pop("baseline_dag.py")
    base = statistics.median(r["provider"] + r["dag"] for r in baseline)
    base_cpu = statistics.median(r["cpu"] for r in baseline)
    print(
        f"| baseline: minimal `@daily` DAG, no operator (Airflow's own cost) | - | - | {base:.1f} | - | - | - "
        f"| {base_cpu:.1f} | - |"
    )
    for dag_file, operator_module in FILES.items():
        print(row(f"`{dag_file}`", runs[dag_file], base, base_cpu))
        notes[dag_file] = (runs[dag_file][0]["new"], slow_imports(dag_file, operator_module, env))
    print()
    for dag_file, (new, slow) in notes.items():
        print(
            f"- `{dag_file}` imports {len(new)} new top-level packages; >= 5 ms: {', '.join(slow) or 'none'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
