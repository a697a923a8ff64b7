"""What the local backend adds to a job over running its script bare (goal: < 0.3 s a job).

    .venv/bin/python benchmarks/backend_overhead.py [--runs 15]

For each case: median wall time of create -> Completed (polling describe every 5 ms) minus the median of
running the same script bare with the same Python. The backend's one-time cost (loading the processing
shapes on the first create: the small cached copy of botocore's model, ``api/shapes.py``; botocore's
whole model only to word a refusal) is reported separately, as a long-lived caller pays it once.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sagemaker_processing_provider.api.validation import input_shape
from sagemaker_processing_provider.local.backend import LocalProcessingBackend

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SCRIPT = "import json\nprint(json.load(open('/opt/ml/config/resourceconfig.json'))['current_host'])\n"
BARE_SCRIPT = "print('algo-1')\n"


def request(name: str, script: Path, data: Path | None) -> dict:
    req = {
        "ProcessingJobName": name,
        "RoleArn": "arn:aws:iam::000000000000:role/SageMakerRole",
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 1}
        },
        "AppSpecification": {"ImageUri": IMAGE, "ContainerEntrypoint": ["python3", str(script)]},
    }
    if data:
        req["ProcessingInputs"] = [
            {
                "InputName": "data",
                "S3Input": {
                    "S3Uri": f"file://{data}",
                    "LocalPath": "/opt/ml/processing/input/data",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ]
        req["ProcessingOutputConfig"] = {
            "Outputs": [
                {
                    "OutputName": "out",
                    "S3Output": {
                        "S3Uri": f"file://{data.parent}/out-{name}",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        }
    return req


def run_job(backend: LocalProcessingBackend, req: dict) -> float:
    start = time.perf_counter()
    backend.create_processing_job(**req)
    while True:
        status = backend.describe_processing_job(ProcessingJobName=req["ProcessingJobName"])[
            "ProcessingJobStatus"
        ]
        if status not in ("InProgress", "Stopping"):
            break
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    if status != "Completed":
        raise SystemExit(f"job {req['ProcessingJobName']} ended {status}")
    return elapsed


def bare(script: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(script)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        script, bare_script = root / "job.py", root / "bare.py"
        script.write_text(SCRIPT)
        bare_script.write_text(BARE_SCRIPT)
        data = root / "data"
        data.mkdir()
        (data / "part.csv").write_text("a,b\n1,2\n")
        t0 = time.perf_counter()
        input_shape()
        first = time.perf_counter() - t0
        backend = LocalProcessingBackend(root / "store")
        bare_times = [bare(bare_script) for _ in range(runs)]
        cases = {"trivial script": None, "+ 1 file:// input, 1 output": data}
        rows = []
        for label, case_data in cases.items():
            times = [
                run_job(backend, request(f"bench-{len(rows)}-{i}", script, case_data)) for i in range(runs)
            ]
            rows.append(
                (label, statistics.median(times), statistics.median(times) - statistics.median(bare_times))
            )
    print(
        f"machine: {platform.platform()} | {platform.processor() or platform.machine()} | "
        f"nproc {os.cpu_count()} | Python {platform.python_version()} | runs {runs} | "
        f"load average {os.getloadavg()[0]:.1f} (figures grow with it)"
    )
    print(f"one-time: processing shapes load {first * 1000:.0f} ms (first create in a process)")
    print(f"{'case':32} {'backend (s)':>12} {'bare (s)':>10} {'overhead (s)':>13}")
    for label, total, overhead in rows:
        print(f"{label:32} {total:12.3f} {statistics.median(bare_times):10.3f} {overhead:13.3f}")


if __name__ == "__main__":
    main()
