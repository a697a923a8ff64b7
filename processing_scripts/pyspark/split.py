"""PySpark split job: the features table -> train / validation / test (docs/ARCHITECTURE.md "Data contract").

The split was assigned by feature engineering (hash rule); this job only routes rows by ``split``.
Parquet keeps every column; ``--format csv`` writes headerless files with the label first and no
``split``/``row_hash``, the layout SageMaker's built-in algorithms read. Self-contained on purpose.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import uuid

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

LOG = logging.getLogger("split")
SPLITS = ["train", "validation", "test"]
FEATURES = [
    "sex_F",
    "sex_I",
    "sex_M",
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
]
COLUMNS = ["rings", *FEATURES, "split", "row_hash"]


class InputDataError(ValueError):
    """The features table does not match the contract."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default="/opt/ml/processing/input/features")
    p.add_argument("--output", default="/opt/ml/processing/output", help="base of <split>/")
    for s in SPLITS:
        p.add_argument(f"--{s}-output", default=None, help=f"default: <--output>/{s}")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    p.add_argument("--message-file", default="/opt/ml/output/message", help="one-line failure reason")
    return p.parse_args(argv)


def local_path(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def spark_session(app: str) -> SparkSession:
    """Session from the submitter's config (no master here); few shuffle partitions unless configured."""
    spark = SparkSession.builder.appName(app).getOrCreate()
    if not spark.sparkContext.getConf().contains("spark.sql.shuffle.partitions"):
        spark.conf.set("spark.sql.shuffle.partitions", str(max(2, spark.sparkContext.defaultParallelism)))
    return spark


def read_features(spark: SparkSession, path: str) -> DataFrame:
    if not os.path.exists(local_path(path)):
        raise InputDataError(
            f"--input: {path} does not exist (expected the feature engineering Parquet output)"
        )
    df = spark.read.parquet(path)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputDataError(f"--input {path}: missing column(s) {missing}; expected {COLUMNS}")
    bad = df.filter(~F.col("split").isin(SPLITS) | F.col("split").isNull()).select("split").limit(1).collect()
    if bad:
        raise InputDataError(f"--input {path}: split value {bad[0]['split']!r}; expected one of {SPLITS}")
    return df.select(*COLUMNS)


def check_destination(path: str) -> None:
    p = local_path(path)
    if os.path.exists(p) and (not os.path.isdir(p) or os.listdir(p)):
        raise FileExistsError(
            f"output {path} already exists and is not an empty folder; refusing to overwrite it"
        )


def write_atomically(df: DataFrame, path: str, fmt: str) -> None:
    """Write into a hidden sibling folder, then move the part files in: no half-written output."""
    dest = local_path(path)
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{os.path.basename(dest)}.staging-{uuid.uuid4().hex[:8]}")
    try:
        writer = df.write.mode("errorifexists")
        if fmt == "csv":
            writer = writer.option("header", "false")
        writer.format(fmt).save("file://" + staging)
        os.makedirs(dest, exist_ok=True)
        for name in sorted(os.listdir(staging)):
            if name.startswith("part-"):
                os.replace(os.path.join(staging, name), os.path.join(dest, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_message(path: str, message: str) -> None:
    """SageMaker shows this file's content as the job's ExitMessage."""
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            f.write(message.replace("\n", " ")[:1024] + "\n")
    except OSError as exc:
        LOG.warning("could not write the failure message to %s: %s", path, exc)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    outputs = {s: getattr(args, f"{s}_output") or f"{args.output.rstrip('/')}/{s}" for s in SPLITS}
    spark = spark_session("abalone-split")
    try:
        for path in outputs.values():
            check_destination(path)
        df = read_features(spark, args.input).cache()
        for split, path in outputs.items():
            part = df.filter(F.col("split") == split)
            if args.format == "csv":
                part = part.select(*[F.col(c).cast("double") for c in ["rings", *FEATURES]])
            write_atomically(part, path, args.format)
            LOG.info("%s: %d rows -> %s (%s)", split, part.count(), path, args.format)
    except (InputDataError, FileExistsError) as exc:
        LOG.error("%s", exc)
        write_message(args.message_file, str(exc))
        return 1
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
