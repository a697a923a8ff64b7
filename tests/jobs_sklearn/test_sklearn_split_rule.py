"""The split rule is Spark SQL's xxhash64, bit for bit: known answers, then pyspark itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

ABALONE = Path(__file__).resolve().parents[2] / "data" / "abalone.csv"

# Values computed with pyspark 4: F.xxhash64 over (a, b, c, d) as longs, c null in the first row.
KNOWN = [
    ((1, 4550, None, 15), 1747569827477212288),
    ((3, -5, 2**40, 0), -4073554831491440705),
    ((0, 2**63 - 1, -(2**63), 7), 4037507178394577132),
]


def _hash_rows(fe, rows):
    cols = []
    for j in range(len(rows[0])):
        vals = [r[j] for r in rows]
        valid = np.array([v is not None for v in vals])
        values = np.array([0 if v is None else v for v in vals], dtype=np.int64)
        cols.append((values, None if valid.all() else valid))
    return fe.xxhash64_longs(cols, len(rows)).tolist()


def test_xxhash64_known_answers_with_nulls_and_extremes(fe):
    assert _hash_rows(fe, [r for r, _ in KNOWN]) == [h for _, h in KNOWN]


def test_quantise_and_long_cast_follow_java(fe):
    x = np.array([0.455, 0.00005, 1.23456, -0.5, np.nan, np.inf, 15.0])
    assert fe.quantise(x).tolist() == [4550, 1, 12346, -5000, 0, 2**63 - 1, 150000]
    assert fe.spark_long(np.array([2.9, -2.9, np.nan])).tolist() == [2, -2, 0]


def test_split_thresholds_and_pmod(fe):
    assert fe.split_thresholds(0.7, 0.15) == (7000, 8500)
    h = np.array([6999, 7000, 8499, 8500, -1, -3001], dtype=np.int64)  # pmod(-1) = 9999, pmod(-3001) = 6999
    assert fe.assign_split(h, (7000, 8500)).tolist() == [0, 1, 1, 2, 2, 0]


def _edge_rows() -> pd.DataFrame:
    df = pd.read_csv(ABALONE).sample(300, random_state=1).reset_index(drop=True)
    df.loc[0, "sex"] = "X"  # unknown category -> code 0
    df.loc[1, "sex"] = None  # missing -> code 0
    df.loc[2, "length"] = None  # null argument: skipped by xxhash64
    df.loc[3, "rings"] = None
    df.loc[4, "height"] = 0.00005  # rounding boundary of q()
    df.loc[5, "whole_weight"] = 123456.7891
    return df


@pytest.mark.slow
def test_row_hash_and_split_match_pyspark(fe, run_job, tmp_path):
    """Our job's row_hash/split for each row equal pyspark's F.xxhash64 + pmod on the same rows."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    df = _edge_rows()
    df.to_csv(tmp_path / "rows.csv", index=False)
    seed = 7
    run_job(
        "feature_engineering",
        "--input",
        tmp_path / "rows.csv",
        "--output",
        tmp_path / "features",
        "--transform-output",
        tmp_path / "transform",
        "--seed",
        seed,
        "--message-file",
        tmp_path / "msg",
    )
    ours = pq.read_table(tmp_path / "features").to_pandas()

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("sklearn-split-rule")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .getOrCreate()
    )
    try:
        sdf = spark.createDataFrame(
            df.astype(object).where(df.notna(), None),
            "sex string, length double, diameter double, height double, "
            "whole_weight double, shucked_weight double, viscera_weight double, "
            "shell_weight double, rings double",
        )
        sex_code = (
            F.when(F.col("sex") == "F", 1)
            .when(F.col("sex") == "I", 2)
            .when(F.col("sex") == "M", 3)
            .otherwise(0)
            .cast("long")
        )
        args = [F.lit(seed).cast("long"), sex_code]
        args += [F.floor(F.col(c) * 10000 + 0.5).cast("long") for c in fe.NUMERIC]
        args.append(F.col("rings").cast("long"))
        h = F.xxhash64(*args)
        b = F.pmod(h, F.lit(10000))
        split = F.when(b < 7000, "train").when(b < 8500, "validation").otherwise("test")
        theirs = sdf.select(h.alias("row_hash"), split.alias("split")).toPandas()
    finally:
        spark.stop()
    assert len(ours) == len(theirs) == 300
    ours = ours.sort_values(["row_hash", "split"]).reset_index(drop=True)
    theirs = theirs.sort_values(["row_hash", "split"]).reset_index(drop=True)
    assert ours["row_hash"].tolist() == theirs["row_hash"].tolist()
    assert ours["split"].tolist() == theirs["split"].tolist()
    assert set(theirs["split"]) == {"train", "validation", "test"}
