"""Benchmark: the scikit-learn feature engineering job on Abalone's 4,177 rows, as a whole process.

What a user waits for in `make run`: the container's `python feature_engineering.py ...`, interpreter
start and imports included. Variants run interleaved (same machine load), median of ``--runs``:

- ``job``: processing_scripts/sklearn/feature_engineering.py on data/abalone.csv;
- ``imports``: a bare ``python -c "import numpy, pyarrow.csv, pyarrow.parquet, pyarrow.compute"``, the
  floor for a job that parses CSV and writes Parquet with pyarrow;
- ``compare``: with ``--compare PATH``, another version of the script (e.g.
  ``git show <rev>:processing_scripts/sklearn/feature_engineering.py > /tmp/fe_old.py``).

Bytecode is cached in a private folder, filled by a warm-up run (a container's image has its .pyc).

Profile (``python -X importtime``, cProfile), 2 cores: the job took 5.6 s, of which
``import sklearn.preprocessing`` 4.0 s (it pulls scipy.sparse, scipy.stats and pandas through
sklearn.utils) for one ``StandardScaler.partial_fit``; numpy + pyarrow (csv, parquet, compute) cost
~0.4-0.6 s, the work itself (hash, split, two passes, three Parquet files) ~0.1 s. The job now
streams the moments in numpy (``TrainMoments``) and imports no scikit-learn.

    .venv/bin/python benchmarks/sklearn_job_startup.py --runs 10 [--compare /tmp/fe_old.py]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
JOB = REPO / "processing_scripts" / "sklearn" / "feature_engineering.py"
ABALONE = REPO / "data" / "abalone.csv"
IMPORTS = "import numpy, pyarrow.csv, pyarrow.parquet, pyarrow.compute"


def command(variant: str, script: Path, work: Path) -> list[str]:
    if variant == "imports":
        return [sys.executable, "-c", IMPORTS]
    return [sys.executable, str(script), "--input", str(ABALONE), "--output", str(work / "features"),
            "--transform-output", str(work / "transform"), "--message-file", str(work / "message")]  # fmt: skip


def run_once(cmd: list[str], work: Path, env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one child process, in a fresh output folder."""
    shutil.rmtree(work, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err.decode(errors='replace')[-3000:]}")
    return elapsed, usage.ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--compare", type=Path, default=None, help="another version of feature_engineering.py")
    args = p.parse_args(argv)
    scripts = {"job": JOB, "imports": JOB}
    if args.compare:
        scripts["compare"] = args.compare
    root = Path(tempfile.mkdtemp(prefix="sklearn-startup-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    try:
        for name, script in scripts.items():  # warm-up: bytecode compiled once, as in an image
            run_once(command(name, script, root / name), root / name, env)
        load_before = os.getloadavg()[0]
        times: dict[str, list[tuple[float, int]]] = {name: [] for name in scripts}
        for i in range(args.runs):
            for name, script in scripts.items():
                times[name].append(run_once(command(name, script, root / name), root / name, env))
            print(
                f"run {i + 1}/{args.runs}: " + ", ".join(f"{n} {t[-1][0]:.2f} s" for n, t in times.items()),
                flush=True,
            )
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    med = {n: statistics.median(t for t, _ in v) for n, v in times.items()}
    print(
        f"\n{os.cpu_count()} cores, load average (1 min) {load_before:.1f} before, {load_after:.1f} after\n"
    )
    print("| variant | median wall (s) | min (s) | peak RSS (MB) | vs job |")
    print("|---|---:|---:|---:|---:|")
    for name, values in times.items():
        print(
            f"| {name} | {med[name]:.2f} | {min(t for t, _ in values):.2f} "
            f"| {max(m for _, m in values) / 1e6:,.0f} | {med[name] / med['job']:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
