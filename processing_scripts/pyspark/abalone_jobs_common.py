"""What the three PySpark abalone jobs share: the contract's columns, the session, reading and writing.

Shipped with each job through ``--py-files`` (the operators' ``submit_py_files``; the tests and the
benchmark pass it to ``spark-submit``), which puts it on the driver's Python path; the name is
prefixed so it cannot clash with another module there. Only the driver imports it. Each job passes its
own logger so its log lines keep the job's name (docs/ARCHITECTURE.md "Data contract").
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession

SPLITS = ["train", "validation", "test"]
CATEGORIES = ["F", "I", "M"]  # alphabetAsc, fixed by the contract: an unknown sex is all zeros
NUMERIC = [
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
]
ONE_HOT = [f"sex_{c}" for c in CATEGORIES]
FEATURES = [*ONE_HOT, *NUMERIC]
CSV_COLUMNS = ["rings", *FEATURES]  # the headerless CSV splits: label first
TABLE_COLUMNS = [*CSV_COLUMNS, "split", "row_hash"]  # the features table (Parquet)
MESSAGE_FILE = "/opt/ml/output/message"  # SageMaker's ExitMessage


def split_bounds(rows: dict[str, int], ranges: dict[str, tuple[int, int]], max_sigma: float) -> dict:
    """Per split: its fraction, the rule's probability p and the deviation the binomial bound allows.

    The split rule puts each row in a split by its own hash bucket (``pmod(row_hash, 10000)``), whatever
    the other rows, so a split's row count is Binomial(n, p), p = its bucket range / 10000, and its
    fraction has sd sqrt(p (1 - p) / n): 0.0067 for p = 0.25 on Abalone's 4,177 rows, 0.00014 on 10M.
    A fixed tolerance is too tight on small data (0.02 is 3 sd there) and far too loose on big data.
    Allowed: |fraction - p| <= max_sigma * sd + 0.5 / n (half a row, counts being whole); at 5 sd a
    correct split fails one check in ~1.7 million. Exact duplicate rows share a hash (one draw), so with
    many duplicates the real spread is larger than this n assumes. The same bound as the scikit-learn
    and Scala validation jobs.
    """
    n = sum(rows.values())
    out = {}
    for name in SPLITS:
        p = (ranges[name][1] - ranges[name][0]) / 10000
        sd = math.sqrt(p * (1 - p) / n) if n else 0.0
        fraction = rows[name] / n if n else 0.0
        out[name] = {
            "fraction": fraction,
            "p": p,
            "allowed_deviation": max_sigma * sd + (0.5 / n if n else 0.0),
            "sigmas": abs(fraction - p) / sd if sd > 0 else None,
        }
    return out


def split_size_verdict(
    rows: dict[str, int], ranges: dict[str, tuple[int, int]], max_sigma: float
) -> tuple[bool | None, str]:
    """The split_sizes check as (ok, detail): every split within ``split_bounds``' binomial bound."""
    n = sum(rows.values())
    if n == 0:
        return None, "no rows: nothing to compare with the split rule"
    bounds = split_bounds(rows, ranges, max_sigma)
    outside = [
        s for s in SPLITS if abs(bounds[s]["fraction"] - bounds[s]["p"]) > bounds[s]["allowed_deviation"]
    ]
    parts = [
        f"{s} {b['fraction']:.4f} (expected {b['p']:.4f} +/- {b['allowed_deviation']:.4f})"
        for s, b in bounds.items()
    ]
    rule = f"{max_sigma:g} sd of Binomial(n={n}, p) + 0.5/n"
    if not outside:
        return True, f"{', '.join(parts)}; bound {rule}"
    why = "; ".join(
        f"{s} has {rows[s]} of {n} rows ({bounds[s]['fraction']:.4f}), "
        + (
            f"{bounds[s]['sigmas']:.1f} sd from the rule's {bounds[s]['p']:.4f}"
            if bounds[s]["sigmas"] is not None
            else f"the rule gives it exactly {bounds[s]['p']:.4f}"
        )
        for s in outside
    )
    return False, f"{why}; allowed {rule}: not a hash split with these ratios"


class InputDataError(ValueError):
    """The input data does not match the contract (missing column, unparsable value, no rows)."""


def add_message_file(
    parser: argparse.ArgumentParser, help_text: str | None = "one-line failure reason"
) -> None:
    """``--message-file``: where a failed job writes its one-line reason (SageMaker's ExitMessage)."""
    parser.add_argument("--message-file", default=MESSAGE_FILE, help=help_text)


def local_path(path: str) -> str:
    """A plain local path for driver-side file operations (the container's paths are local)."""
    return path[len("file://") :] if path.startswith("file://") else path


def data_file_names(path: str) -> list[str]:
    """The file itself, or a folder's data files (hidden and ``_`` files such as _SUCCESS ignored)."""
    return [path] if os.path.isfile(path) else [n for n in os.listdir(path) if not n.startswith((".", "_"))]


def spark_session(app: str) -> SparkSession:
    """Session from the submitter's config (no master here); few shuffle partitions unless configured."""
    spark = SparkSession.builder.appName(app).getOrCreate()
    if not spark.sparkContext.getConf().contains("spark.sql.shuffle.partitions"):
        spark.conf.set("spark.sql.shuffle.partitions", str(max(2, spark.sparkContext.defaultParallelism)))
    return spark


def read_features_table(spark: SparkSession, path: str, columns: list[str]) -> tuple[DataFrame, list[str]]:
    """The features table (Parquet) and which of ``columns`` it lacks: each job words its own error."""
    df = spark.read.parquet(path)
    return df, [c for c in columns if c not in df.columns]


def check_destination(path: str) -> None:
    """Refuse up front to write into a non-empty output: never mix or overwrite results."""
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


def write_text(folder: str, name: str, text: str) -> str:
    """Write ``folder/name`` through a temporary file and a rename: readers never see half a file."""
    folder = local_path(folder)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    target = os.path.join(folder, name)
    os.replace(tmp, target)
    return target


def write_json(obj: dict, folder: str, name: str) -> str:
    return write_text(folder, name, json.dumps(obj, indent=2, sort_keys=True))


def write_message(
    path: str,
    message: str,
    log: logging.Logger,
    warning: str = "could not write the failure message to %s: %s",
) -> None:
    """SageMaker shows this file's content as the job's ExitMessage; never fail because of it."""
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            f.write(message.replace("\n", " ")[:1024] + "\n")
    except OSError as exc:
        log.warning(warning, path, exc)


def shared_session() -> bool:
    """A session some caller already runs (a test's shared JVM): a job uses it and leaves it running."""
    from pyspark import SparkContext

    return SparkContext._active_spark_context is not None


def run_job(app: str, message_file: str, log: logging.Logger, body: Callable[[SparkSession], None]) -> int:
    """Run ``body`` in a Spark session; bad input ends it with exit 1 and a one-line message file."""
    shared = shared_session()
    spark = spark_session(app)
    try:
        body(spark)
    except (InputDataError, FileExistsError) as exc:
        log.error("%s", exc)
        write_message(message_file, str(exc), log)
        return 1
    finally:
        if not shared:
            spark.stop()
    return 0
