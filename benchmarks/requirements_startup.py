"""A job with ``requirements.txt`` whose environment is cached starts as fast as one without (local backend).

    .venv/bin/python benchmarks/requirements_startup.py [--runs 10]

The same trivial script runs as three requests built by the scikit-learn request builder, interleaved,
``--runs`` times each (median of create -> Completed, polling every 5 ms):

- ``plain``: ``code=job.py`` (``python3 job.py``);
- ``source_dir``: the folder bundled (``runproc.sh``: unpack, run), no requirements;
- ``requirements, cached``: the folder with a ``requirements.txt`` (``cowsay==6.1``) whose environment
  was installed by an earlier job: ``runproc.sh`` still runs ``pip install``, which finds the cache.

Then the first install (``requirements, first install``): a fresh job store each run, so the environment
is built again (uv's own download cache stays warm, as on a developer's machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sagemaker_processing_provider.backends.local import LocalBackend
from sagemaker_processing_provider.request.params import SKLearnParams
from sagemaker_processing_provider.request.sklearn import build_sklearn_request
from sagemaker_processing_provider.request.stager import BuildTarget

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SCRIPT = "import sys\nprint('ok', sys.argv[1:])\n"


def run_job(backend: LocalBackend, name: str, **params) -> float:
    stager = backend.stager()
    p = SKLearnParams(
        role=backend.resolve_role(None), instance_type="ml.m5.xlarge", image_uri=IMAGE, **params
    )
    request = build_sklearn_request(
        p, BuildTarget(name, "us-east-1", stager, backend.default_output_prefix(stager))
    )
    stager.upload()
    start = time.perf_counter()
    backend.create(request)
    while (status := backend.describe(name)["ProcessingJobStatus"]) in ("InProgress", "Stopping"):
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    if status != "Completed":
        sys.exit(f"job {name} ended {status}: {backend.describe(name).get('ExitMessage')}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain, bundled, with_reqs = root / "plain", root / "bundled", root / "with_reqs"
        for folder in (plain, bundled, with_reqs):
            folder.mkdir()
            (folder / "job.py").write_text(SCRIPT)
        (with_reqs / "requirements.txt").write_text("cowsay==6.1\n")
        backend = LocalBackend(root / "store")
        cases = {
            "plain (code=job.py)": {"code": str(plain / "job.py")},
            "source_dir, no requirements": {"code": "job.py", "source_dir": str(bundled)},
            "requirements, cached": {"code": "job.py", "source_dir": str(with_reqs)},
        }
        run_job(backend, "warm-up", **cases["requirements, cached"])  # builds the cached environment
        times: dict[str, list[float]] = {label: [] for label in cases}
        for i in range(runs):
            for n, (label, params) in enumerate(cases.items()):
                times[label].append(run_job(backend, f"bench-{n}-{i}", **params))
        first = [
            run_job(LocalBackend(root / f"fresh-{i}"), f"first-{i}", **cases["requirements, cached"])
            for i in range(max(3, runs // 3))
        ]
    base = statistics.median(times["plain (code=job.py)"])
    print(
        f"machine: {platform.platform()} | nproc {os.cpu_count()} | Python {platform.python_version()} | "
        f"runs {runs} | load average {os.getloadavg()[0]:.1f}"
    )
    print(f"| {'case':32} | median (s) | vs plain |")
    print(f"|{'-' * 34}|-----------:|---------:|")
    for label, values in [*times.items(), ("requirements, first install", first)]:
        median = statistics.median(values)
        print(f"| {label:32} | {median:10.3f} | {median / base:7.2f}x |")


if __name__ == "__main__":
    main()
