"""PySpark feature engineering for the abalone data (docs/ARCHITECTURE.md "Data contract").

Assigns each row its split with the contract's hash rule, fits the one-hot ``sex`` encoding (fixed F, I,
M) and the standard scaler on the train rows only and applies them to every row, so no statistic leaks
from validation/test rows. Not standalone: it imports ``abalone_jobs_common`` (the code the three
PySpark jobs share), which must be shipped with ``--py-files`` / the operator's ``submit_py_files``.

One pass over the input: the CSV is read with an explicit schema (no inference, no string columns cast
afterwards; an unparsable value lands in a corrupt-record column and is reported by column), the typed
rows with their hash and split are cached, and a single aggregation gives the split counts, each
column's train count, mean and sample deviation (``avg``/``stddev_samp`` skip nulls: the per-column fit
scikit-learn's ``StandardScaler`` does). The transform is one projection of column expressions,
``(x - mean) * (1 / sd)`` as Spark ML's ``StandardScalerModel`` computes it, without vectors.
benchmarks/spark_feature_engineering.py has the profile that led here (Spark ML's fit and vector
transform, the separate validation pass over the CSV).

Output: Parquet (all rows, with ``split`` and ``row_hash``) and ``preprocessing.json``.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import gzip
import logging
import os
import sys

from abalone_jobs_common import (
    CATEGORIES,
    NUMERIC,
    ONE_HOT,
    SPLITS,
    TABLE_COLUMNS,
    InputDataError,
    add_message_file,
    check_destination,
    data_file_names,
    local_path,
    run_job,
    write_atomically,
    write_json,
)
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

LOG = logging.getLogger("feature_engineering")
SEX_CODES = {"F": 1, "I": 2, "M": 3}
RAW_COLUMNS = ["sex", *NUMERIC, "rings"]
VALUES = [*NUMERIC, "rings"]
CORRUPT = "_corrupt_record"  # Spark puts a CSV line it cannot parse with the schema here


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default="/opt/ml/processing/input/data")
    p.add_argument("--output", default="/opt/ml/processing/output/features")
    p.add_argument("--transform-output", default="/opt/ml/processing/output/transform")
    p.add_argument("--train-ratio", type=float, default=0.7)
    p.add_argument("--validation-ratio", type=float, default=0.15)
    p.add_argument("--seed", type=int, default=42)
    add_message_file(p)
    args = p.parse_args(argv)
    tr, va = args.train_ratio, args.validation_ratio
    if not (0 < tr <= 1 and 0 <= va <= 1 and tr + va <= 1 + 1e-12):
        p.error(
            f"--train-ratio/--validation-ratio: expected 0 < train <= 1, 0 <= validation, sum <= 1; got {tr}, {va}"
        )
    return args


def detect_format(path: str) -> str:
    """``parquet`` if the file (or every data file of the folder) ends in .parquet, else ``csv``."""
    p = local_path(path)
    if not os.path.exists(p):
        raise InputDataError(f"--input: {path} does not exist (expected a CSV/Parquet file or folder)")
    names = data_file_names(p)
    if not names:
        raise InputDataError(f"--input: folder {path} holds no data file")
    return "parquet" if all(n.endswith(".parquet") for n in names) else "csv"


def csv_header(path: str) -> list[str]:
    """The header of the (first) CSV file: the schema follows its column order, by name."""
    p = local_path(path)
    first = p if os.path.isfile(p) else os.path.join(p, sorted(data_file_names(p))[0])
    opener = {".gz": gzip.open, ".bz2": bz2.open}.get(os.path.splitext(first)[1], open)
    with opener(first, "rt", newline="") as f:
        return next(csv.reader(f), [])


def read_raw(spark: SparkSession, path: str) -> DataFrame:
    """CSV (header) or Parquet, typed: ``sex`` string, the rest doubles (empty or null stays null).

    CSV is parsed straight into doubles with a schema built from its header (``enforceSchema`` off:
    Spark checks every file's header against it), so no inference pass and no string columns; a value
    that does not parse leaves its line in ``_corrupt_record``, which ``engineer`` reports.
    """
    fmt = detect_format(path)
    if fmt == "parquet":
        df = spark.read.parquet(path)
        missing = [c for c in RAW_COLUMNS if c not in df.columns]
        if missing:
            raise InputDataError(f"--input {path}: missing column(s) {missing}; expected {RAW_COLUMNS}")
        return df.select(
            F.col("sex").cast("string").alias("sex"), *[F.col(c).cast("double").alias(c) for c in VALUES]
        )
    header = csv_header(path)
    missing = [c for c in RAW_COLUMNS if c not in header]
    if missing:
        raise InputDataError(f"--input {path}: missing column(s) {missing}; expected {RAW_COLUMNS}")
    fields = [T.StructField(c, T.DoubleType() if c in VALUES else T.StringType()) for c in header]
    schema = T.StructType([*fields, T.StructField(CORRUPT, T.StringType())])
    reader = spark.read.schema(schema).option("header", "true").option("enforceSchema", "false")
    df = reader.option("columnNameOfCorruptRecord", CORRUPT).csv(path)
    return df.select(*RAW_COLUMNS, CORRUPT)


def unparsable(path: str, line: str) -> InputDataError:
    """The error for a CSV line Spark could not parse: the column and value, as the other engines say."""
    header = csv_header(path)
    fields = next(csv.reader([line]), [])
    if len(fields) != len(header):
        return InputDataError(
            f"--input {path}: a line has {len(fields)} fields, the header {len(header)}: {line[:200]!r}"
        )
    for name, value in zip(header, fields, strict=True):
        if name in VALUES and value.strip():
            try:
                float(value)
            except ValueError:
                return InputDataError(f"--input {path}: column {name!r} holds {value!r}; expected a number")
    return InputDataError(f"--input {path}: cannot parse the line {line[:200]!r}")


def quantise(col: Column) -> Column:
    """q(x) = floor(x * 10000 + 0.5) as long: hashing exact decimals, not binary doubles."""
    return F.floor(col * F.lit(10000.0) + F.lit(0.5)).cast("long")


def row_hash(seed: int) -> Column:
    """The contract's hash: Spark's xxhash64 (seed 42) of longs only; a null argument is skipped."""
    sex_code = F.coalesce(*[F.when(F.col("sex") == k, F.lit(v)) for k, v in SEX_CODES.items()], F.lit(0))
    args = [F.lit(seed).cast("long"), sex_code.cast("long"), *[quantise(F.col(c)) for c in NUMERIC]]
    return F.xxhash64(*args, F.col("rings").cast("long"))


def split_bounds(train_ratio: float, validation_ratio: float) -> tuple[int, int]:
    """Bucket bounds out of 10,000 (round half to even, as Python's and numpy's round)."""
    return round(train_ratio * 10000), round((train_ratio + validation_ratio) * 10000)


def assign_split(df: DataFrame, seed: int, train_ratio: float, validation_ratio: float) -> DataFrame:
    t, v = split_bounds(train_ratio, validation_ratio)
    bucket = F.pmod(F.col("row_hash"), F.lit(10000))
    split = F.when(bucket < t, "train").when(bucket < v, "validation").otherwise("test")
    return df.withColumn("row_hash", row_hash(seed)).withColumn("split", split)


def fit(
    df: DataFrame,
) -> tuple[dict[str, int], dict[str, int], dict[str, float], dict[str, float], str | None]:
    """One aggregation over the cached rows: counts per split, and per numeric column its train count,
    mean and sample sd (nulls skipped); plus the first unparsable CSV line, if any."""
    is_train = F.col("split") == "train"
    aggs = [F.count(F.when(F.col("split") == s, 1)).alias(f"n_{s}") for s in SPLITS]
    for i, c in enumerate(NUMERIC):
        train_value = F.when(is_train, F.col(c))
        aggs += [
            F.count(train_value).alias(f"fit_{i}"),
            F.avg(train_value).alias(f"mean_{i}"),
            F.stddev_samp(train_value).alias(f"sd_{i}"),
        ]
    if CORRUPT in df.columns:
        aggs.append(F.first(F.col(CORRUPT), ignorenulls=True).alias("corrupt"))
    row = df.agg(*aggs).first().asDict()
    counts = {s: int(row[f"n_{s}"]) for s in SPLITS}
    fit_rows = {c: int(row[f"fit_{i}"]) for i, c in enumerate(NUMERIC)}
    means = {c: row[f"mean_{i}"] for i, c in enumerate(NUMERIC)}
    stds = {c: row[f"sd_{i}"] if row[f"sd_{i}"] == row[f"sd_{i}"] else None for i, c in enumerate(NUMERIC)}
    return counts, fit_rows, means, stds, row.get("corrupt")


def scaled(c: str, mean: float, sd: float | None) -> Column:
    """Spark ML StandardScalerModel's arithmetic: (x - mean) * (1 / sd); a zero or undefined sd gives 0.0."""
    if not sd:
        return F.when(F.col(c).isNotNull(), F.lit(0.0))
    return (F.col(c) - F.lit(mean)) * F.lit(1.0 / sd)


def engineer(
    df: DataFrame, seed: int, train_ratio: float, validation_ratio: float, path: str = "--input"
) -> tuple[DataFrame, dict]:
    """Split, fit on train rows, transform all rows; returns the features table and the fitted stats."""
    df = assign_split(df, seed, train_ratio, validation_ratio).cache()
    counts, fit_rows, means, stds, corrupt = fit(df)
    if corrupt is not None:
        raise unparsable(path, corrupt)
    if not counts["train"]:
        raise InputDataError(f"--input: no train rows (split counts {counts}); expected a non-empty input")
    empty = [c for c in NUMERIC if fit_rows[c] == 0]
    if empty:
        raise InputDataError(
            f"--input: column(s) {empty} have no value in any train row; cannot fit the scaler"
        )
    sex = F.col("sex")
    features = df.select(
        F.col("rings").cast("double").alias("rings"),
        *[
            F.when(sex == k, F.lit(1.0)).otherwise(F.lit(0.0)).alias(c)
            for k, c in zip(CATEGORIES, ONE_HOT, strict=True)
        ],
        *[scaled(c, means[c], stds[c]).alias(c) for c in NUMERIC],
        F.col("split"),
        F.col("row_hash"),
    )
    stats = {
        "engine": "pyspark",
        "seed": seed,
        "hash": "spark xxhash64, seed 42, over (seed, sex_code, q(numerics...), rings) as longs",
        "ratios": {
            "train": train_ratio,
            "validation": validation_ratio,
            "test": round(1.0 - train_ratio - validation_ratio, 10),
        },
        "thresholds": dict(
            zip(["train", "validation"], split_bounds(train_ratio, validation_ratio), strict=True)
        ),
        "label": "rings",
        "categories": {"sex": CATEGORIES},
        "numeric_columns": NUMERIC,
        "means": {c: float(means[c]) for c in NUMERIC},
        "stds": {c: float(stds[c] or 0.0) for c in NUMERIC},
        "std_ddof": 1,
        "fit_rows": fit_rows,
        "counts": {**counts, "total": sum(counts.values())},
        "feature_columns": TABLE_COLUMNS,
    }
    return features, stats


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)

    def job(spark: SparkSession) -> None:
        check_destination(args.output)
        raw = read_raw(spark, args.input)
        features, stats = engineer(raw, args.seed, args.train_ratio, args.validation_ratio, args.input)
        LOG.info("split counts %s (seed %d, ratios %s)", stats["counts"], args.seed, stats["ratios"])
        write_atomically(features, args.output, "parquet")
        LOG.info("features written to %s", args.output)
        LOG.info("transform written to %s", write_json(stats, args.transform_output, "preprocessing.json"))

    return run_job("abalone-feature-engineering", args.message_file, LOG, job)


if __name__ == "__main__":
    sys.exit(main())
