"""PySpark split job: the features table -> train / validation / test (docs/ARCHITECTURE.md "Data contract").

The split was assigned by feature engineering (hash rule); this job only routes rows by ``split``.
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
    write_atomically,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

LOG = logging.getLogger("split")


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
    bad = df.filter(~F.col("split").isin(SPLITS) | F.col("split").isNull()).select("split").limit(1).collect()
    if bad:
        raise InputDataError(f"--input {path}: split value {bad[0]['split']!r}; expected one of {SPLITS}")
    return df.select(*TABLE_COLUMNS)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    outputs = {s: getattr(args, f"{s}_output") or f"{args.output.rstrip('/')}/{s}" for s in SPLITS}

    def job(spark: SparkSession) -> None:
        for path in outputs.values():
            check_destination(path)
        df = read_features(spark, args.input).cache()
        for split, path in outputs.items():
            part = df.filter(F.col("split") == split)
            if args.format == "csv":
                part = part.select(*[F.col(c).cast("double") for c in CSV_COLUMNS])
            write_atomically(part, path, args.format)
            LOG.info("%s: %d rows -> %s (%s)", split, part.count(), path, args.format)

    return run_job("abalone-split", args.message_file, LOG, job)


if __name__ == "__main__":
    sys.exit(main())
