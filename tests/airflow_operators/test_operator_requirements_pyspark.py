"""Slow end to end: a PySpark job with ``source_dir`` + ``requirements.txt`` on the local backend.

Its UDF imports, in Spark's Python workers (the executors), both a package from requirements.txt and a
module of source_dir: the first through the host's requirements overlay, the second through the zip
that runproc.sh adds to ``--py-files``. With two hosts, each installs the requirements (as every
SageMaker instance does), from the same cache. The same run proves the operator's plain PySpark path:
a CSV input read by Spark, ``configuration`` reaching the session, arguments, the default job name
(one real Spark job for all of it: it used to be a second, separate run).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow_operators_support import context
from sagemaker_processing_provider.local.backend import LocalProcessingBackend
from sagemaker_processing_provider.operators.spark import PySparkProcessorOperator

pytestmark = pytest.mark.slow

APP = """
import json, sys
from pyspark.sql import SparkSession
from pyspark.sql.functions import udf

import shapes  # source_dir, on the driver

spark = SparkSession.builder.appName("deps").getOrCreate()


@udf("string")
def origin(x):
    import cowsay, shapes  # in the executors' Python workers
    return json.dumps([shapes.label(x), cowsay.__file__, shapes.__file__])


rows = [json.loads(r[0]) for r in spark.range(0, 6, numPartitions=3).select(origin("id")).collect()]
count = spark.read.option("header", True).csv("/opt/ml/processing/input/data").count()
partitions = spark.conf.get("spark.sql.shuffle.partitions")
with open("/opt/ml/processing/output/result/rows.json", "w") as f:
    json.dump(
        {"rows": rows, "driver": shapes.label(-1), "args": sys.argv[1:], "count": count, "partitions": partitions},
        f,
    )
spark.stop()
"""


def test_executors_import_requirements_and_source_dir_modules(
    job_home: Path, job_files: dict, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text(APP)
    (src / "shapes.py").write_text("def label(x):\n    return f'shape-{x}'\n")
    (src / "requirements.txt").write_text("cowsay==6.1\n")
    operator = PySparkProcessorOperator(
        task_id="process",
        framework_version="3.5",
        instance_type="ml.m5.xlarge",
        instance_count=2,
        submit_app="app.py",
        source_dir=str(src),
        arguments=["--day", "1"],
        inputs=[{"source": str(job_files["data"]), "destination": "/opt/ml/processing/input/data"}],
        outputs=[{"source": "/opt/ml/processing/output/result", "destination": str(tmp_path / "out")}],
        configuration=[
            {"Classification": "spark-defaults", "Properties": {"spark.sql.shuffle.partitions": "2"}}
        ],
        check_interval=0.5,
    )
    result = operator.execute(context())
    assert result["status"] == "Completed" and result["job_name"].startswith("sagemaker-spark-processing-")
    found = json.loads((tmp_path / "out" / "rows.json").read_text())
    assert found["driver"] == "shape--1" and found["args"] == ["--day", "1"]
    assert (found["count"], found["partitions"]) == (2, "2")  # the CSV input; configuration's spark-defaults
    assert [r[0] for r in found["rows"]] == [f"shape-{i}" for i in range(6)]
    assert {"/pyenvs/" in r[1] for r in found["rows"]} == {True}  # the requirements overlay
    assert {r[2].endswith("sourcedir.zip/shapes.py") for r in found["rows"]} == {True}  # --py-files
    log = LocalProcessingBackend(job_home).get_log_events(ProcessingJobName=result["job_name"])["events"]
    installs = [line for line in log if "Requirements:" in line]
    assert {line.split("]")[0] for line in installs} == {"[algo-1", "[algo-2"}
