"""A worker process for the kill test: runs one try of the operator (killed by the test mid-job).

Usage: python airflow_operators_worker.py SCRIPT DATA OUT RELEASE TRY_NUMBER
"""

from __future__ import annotations

import sys
from pathlib import Path

from airflow_operators_support import context, sklearn_operator

if __name__ == "__main__":
    script, data, out, release, try_number = sys.argv[1:6]
    files = {"script": Path(script), "data": Path(data), "out": Path(out), "release": Path(release)}
    sklearn_operator(files, mode="wait").execute(context(try_number=int(try_number)))
