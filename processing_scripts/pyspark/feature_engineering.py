"""PySpark feature engineering for the abalone data (docs/ARCHITECTURE.md "Data contract").

Assigns each row its split with the contract's hash rule, fits a Spark ML ``Pipeline`` (one-hot ``sex``
+ ``StandardScaler``) on the train rows only and applies it to every row, so no statistic leaks from
validation/test rows. Not standalone: it imports ``abalone_jobs_common`` (the code the three PySpark
jobs share), which must be shipped with ``--py-files`` / the operator's ``submit_py_files``.

Output: Parquet (all rows, with ``split`` and ``row_hash``) and ``preprocessing.json``.
"""

from __future__ import annotations

import argparse
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
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import (
    OneHotEncoder,
    StandardScaler,
    StandardScalerModel,
    StringIndexerModel,
    VectorAssembler,
)
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

LOG = logging.getLogger("feature_engineering")
SEX_CODES = {"F": 1, "I": 2, "M": 3}
RAW_COLUMNS = ["sex", *NUMERIC, "rings"]


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


def read_raw(spark: SparkSession, path: str) -> DataFrame:
    """Read CSV (header) or Parquet and type it: ``sex`` string, the rest doubles (null stays null)."""
    fmt = detect_format(path)
    reader = spark.read.option("header", "true") if fmt == "csv" else spark.read
    df = reader.format(fmt).load(path)
    missing = [c for c in RAW_COLUMNS if c not in df.columns]
    if missing:
        raise InputDataError(f"--input {path}: missing column(s) {missing}; expected {RAW_COLUMNS}")
    values = [*NUMERIC, "rings"]
    if fmt == "csv":  # strings: an unparsable value becomes null under try_cast and is reported below
        typed = df.select(
            F.col("sex").cast("string").alias("sex"),
            *[F.col(c).try_cast("double").alias(c) for c in values],
            *[F.col(c).alias(f"_raw_{c}") for c in values],
        )
        bad = [
            F.first(
                F.when(F.col(c).isNull() & (F.trim(F.col(f"_raw_{c}")) != ""), F.col(f"_raw_{c}")), True
            ).alias(c)
            for c in values
        ]
        row = typed.agg(*bad).first()
        for c in values:
            if row[c] is not None:
                raise InputDataError(f"--input {path}: column {c!r} holds {row[c]!r}; expected a number")
    else:
        typed = df.select(
            F.col("sex").cast("string").alias("sex"), *[F.col(c).cast("double").alias(c) for c in values]
        )
    return typed.select(*RAW_COLUMNS)


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


def one_hot_stages() -> list:
    """Fixed F, I, M (alphabetAsc, as the contract's columns); unknown or missing sex -> all zeros."""
    indexer = StringIndexerModel.from_labels(
        CATEGORIES, inputCol="sex", outputCol="_sex_idx", handleInvalid="keep"
    )
    encoder = OneHotEncoder(
        inputCols=["_sex_idx"], outputCols=["_sex_vec"], dropLast=True, handleInvalid="keep"
    )
    return [indexer, encoder]


def scaler_stages(columns: list[str], name: str) -> list:
    """VectorAssembler + StandardScaler(withMean, withStd: sample std; a zero std gives 0.0)."""
    assembler = VectorAssembler(inputCols=columns, outputCol=f"_num_{name}", handleInvalid="keep")
    return [
        assembler,
        StandardScaler(inputCol=f"_num_{name}", outputCol=f"_scaled_{name}", withMean=True, withStd=True),
    ]


def fit_model(
    train: DataFrame, fit_rows: dict[str, int], n_train: int
) -> tuple[PipelineModel, dict[str, Column]]:
    """The fitted pipeline and, per numeric column, the expression of its scaled value.

    Without missing numerics (the usual case): one Pipeline, one StandardScaler over the seven columns.
    With some: each column's scaler is fitted on the train rows where that column is present (as
    scikit-learn's StandardScaler ignores NaN), so the three engines fit the same statistics.
    """
    if all(fit_rows[c] == n_train for c in NUMERIC):
        model = Pipeline(stages=[*one_hot_stages(), *scaler_stages(NUMERIC, "all")]).fit(train)
        scaled = vector_to_array("_scaled_all")
        return model, {c: scaled[i] for i, c in enumerate(NUMERIC)}
    empty = [c for c in NUMERIC if fit_rows[c] == 0]
    if empty:
        raise InputDataError(
            f"--input: column(s) {empty} have no value in any train row; cannot fit the scaler"
        )
    stages = Pipeline(stages=one_hot_stages()).fit(train).stages
    for i, c in enumerate(NUMERIC):
        stages += Pipeline(stages=scaler_stages([c], str(i))).fit(train.filter(F.col(c).isNotNull())).stages
    return PipelineModel(stages), {c: vector_to_array(f"_scaled_{i}")[0] for i, c in enumerate(NUMERIC)}


def scaler_stats(model: PipelineModel) -> tuple[list[float], list[float]]:
    scalers = [s for s in model.stages if isinstance(s, StandardScalerModel)]
    means = [float(v) for s in scalers for v in s.mean.toArray()]
    stds = [float(v) for s in scalers for v in s.std.toArray()]
    return means, stds


def engineer(df: DataFrame, seed: int, train_ratio: float, validation_ratio: float) -> tuple[DataFrame, dict]:
    """Split, fit on train rows, transform all rows; returns the features table and the fitted stats."""
    df = assign_split(df, seed, train_ratio, validation_ratio).cache()
    counts = {r["split"]: r["count"] for r in df.groupBy("split").count().collect()}
    if not counts.get("train"):
        raise InputDataError(f"--input: no train rows (split counts {counts}); expected a non-empty input")
    train = df.filter(F.col("split") == "train")
    row = train.agg(*[F.count(c).alias(c) for c in NUMERIC]).first()
    fit_rows = {c: int(row[c]) for c in NUMERIC}
    model, scaled = fit_model(train, fit_rows, counts["train"])
    means, stds = scaler_stats(model)
    oh = vector_to_array("_sex_vec")
    features = model.transform(df).select(
        F.col("rings").cast("double").alias("rings"),
        *[oh[i].alias(c) for i, c in enumerate(ONE_HOT)],
        *[F.when(F.col(c).isNotNull(), scaled[c]).alias(c) for c in NUMERIC],
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
        "means": dict(zip(NUMERIC, means, strict=True)),
        "stds": dict(zip(NUMERIC, stds, strict=True)),
        "std_ddof": 1,
        "fit_rows": fit_rows,
        "counts": {s: int(counts.get(s, 0)) for s in SPLITS} | {"total": int(sum(counts.values()))},
        "feature_columns": TABLE_COLUMNS,
    }
    return features, stats


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)

    def job(spark: SparkSession) -> None:
        check_destination(args.output)
        raw = read_raw(spark, args.input)
        features, stats = engineer(raw, args.seed, args.train_ratio, args.validation_ratio)
        LOG.info("split counts %s (seed %d, ratios %s)", stats["counts"], args.seed, stats["ratios"])
        write_atomically(features, args.output, "parquet")
        LOG.info("features written to %s", args.output)
        LOG.info("transform written to %s", write_json(stats, args.transform_output, "preprocessing.json"))

    return run_job("abalone-feature-engineering", args.message_file, LOG, job)


if __name__ == "__main__":
    sys.exit(main())
