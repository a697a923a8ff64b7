"""PySpark split job: the features table -> train / validation / test (docs/ARCHITECTURE.md "Data contract").

The split was assigned by feature engineering (hash rule); this job only routes rows by ``split``, in
one pass: a write partitioned by the split, whose folders are then moved to the three outputs (the
previous version read the table four times and counted each split again after writing it).
Parquet keeps every column; ``--format csv`` writes headerless files with the label first and no
``split``/``row_hash``, the layout SageMaker's built-in algorithms read. Not standalone: it imports
``abalone_jobs_common`` (shared by the PySpark jobs), shipped with ``--py-files`` / ``submit_py_files``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from abalone_jobs_common import (
    CSV_COLUMNS,
    SPLITS,
    TABLE_COLUMNS,
    InputDataError,
    add_message_file,
    check_destination,
    local_path,
    read_features_table,
    run_job,
    write_by_value,
)
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

LOG = logging.getLogger("split")
PART = "_split_folder"  # the partition column: a copy of split, so the files keep split itself


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default="/opt/ml/processing/input/features")
    p.add_argument("--output", default="/opt/ml/processing/output", help="base of <split>/")
    for s in SPLITS:
        p.add_argument(f"--{s}-output", default=None, help=f"default: <--output>/{s}")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    add_message_file(p)
    return p.parse_args(argv)


def read_features(spark: SparkSession, path: str) -> DataFrame:
    if not os.path.exists(local_path(path)):
        raise InputDataError(
            f"--input: {path} does not exist (expected the feature engineering Parquet output)"
        )
    df, missing = read_features_table(spark, path, TABLE_COLUMNS)
    if missing:
        raise InputDataError(f"--input {path}: missing column(s) {missing}; expected {TABLE_COLUMNS}")
    return df.select(*TABLE_COLUMNS)


def route(df: DataFrame, outputs: dict[str, str], fmt: str) -> dict[str, int]:
    """Write each split's rows to its output in one pass over the table; returns the rows per split.

    The counts and the check that every row has a known split are observed during that write (no
    pass of their own); a row with another split value fails the job before any output appears.
    """
    known = F.col("split").isin(SPLITS)
    observation = Observation("split")
    observed = df.observe(
        observation,
        *[F.count(F.when(F.col("split") == s, 1)).alias(s) for s in SPLITS],
        F.count(F.when(~known | F.col("split").isNull(), 1)).alias("other"),
        F.first(F.when(~known, F.col("split")), ignorenulls=True).alias("other_value"),
    )
    columns = (
        [F.col(c).cast("double") for c in CSV_COLUMNS] if fmt == "csv" else [F.col(c) for c in TABLE_COLUMNS]
    )
    routed = observed.select(*columns, F.col("split").alias(PART))

    def check() -> None:
        got = observation.get
        if got["other"]:
            raise InputDataError(
                f"--input: {got['other']} row(s) with split {got['other_value']!r}; expected one of {SPLITS}"
            )

    # Without these, Spark plans a sort of the whole table by the partition column before writing;
    # three open writers per task need none (the sort was most of this job's time).
    spark = df.sparkSession
    spark.conf.set("spark.sql.optimizer.plannedWrite.enabled", "false")
    spark.conf.set("spark.sql.maxConcurrentOutputFileWriters", str(len(SPLITS)))
    write_by_value(routed, PART, outputs, fmt, check)
    return {s: int(observation.get[s]) for s in SPLITS}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    outputs = {s: getattr(args, f"{s}_output") or f"{args.output.rstrip('/')}/{s}" for s in SPLITS}

    def job(spark: SparkSession) -> None:
        for path in outputs.values():
            check_destination(path)
        counts = route(read_features(spark, args.input), outputs, args.format)
        for split, path in outputs.items():
            LOG.info("%s: %d rows -> %s (%s)", split, counts[split], path, args.format)

    return run_job("abalone-split", args.message_file, LOG, job)


if __name__ == "__main__":
    sys.exit(main())
