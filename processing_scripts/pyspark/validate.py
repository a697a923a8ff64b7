"""PySpark validation job: data checks + a baseline model, as a gate in the pipeline.

The same checks, thresholds and report as processing_scripts/sklearn/validate.py (docs/ARCHITECTURE.md
"Data contract"): schema, nulls, feature values, row counts, split sizes vs the split rule (a
binomial bound, ``--split-max-sigma`` sd), no leakage (every ``row_hash`` in its own split's bucket, no
hash in two splits), the scaler fitted on train, drift of
validation/test vs train (standardised mean difference), a baseline Spark ML ``LinearRegression`` on
``rings`` (RMSE, MAE, R^2) and, given the raw input, its ranges and row count. Writes
validation_report.json and .md; a failed check exits 1 with a one-line reason in the message file
(SageMaker's ExitMessage). Not standalone: it imports ``abalone_jobs_common`` (the code the three
PySpark jobs share), which must be shipped with ``--py-files`` / the operator's ``submit_py_files``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time

from abalone_jobs_common import (
    CSV_COLUMNS,
    FEATURES,
    NUMERIC,
    ONE_HOT,
    SPLITS,
    add_message_file,
    data_file_names,
    local_path,
    read_features_table,
    shared_session,
    spark_session,
    split_bounds,
    split_size_verdict,
    write_message,
    write_text,
)
from pyspark.ml.evaluation import RegressionEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import LinearRegression
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

LOG = logging.getLogger("validate")
MESSAGE_WARNING = "could not write the message file %s: %s"


class SchemaError(ValueError):
    """A split's columns are not the features table's."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for s in SPLITS:
        p.add_argument(f"--{s}", default=f"/opt/ml/processing/input/{s}")
    p.add_argument(
        "--raw", default=None, help="raw input (optional; default /opt/ml/processing/input/raw if present)"
    )
    p.add_argument(
        "--transform",
        default=None,
        help="preprocessing.json or its folder (default /opt/ml/processing/input/transform if present)",
    )
    p.add_argument("--output", default="/opt/ml/processing/output/report")
    add_message_file(p, help_text=None)
    p.add_argument("--train-ratio", type=float, default=0.7, help="used when no preprocessing.json is given")
    p.add_argument(
        "--validation-ratio", type=float, default=0.15, help="used when no preprocessing.json is given"
    )
    p.add_argument(
        "--split-max-sigma",
        type=float,
        default=5.0,
        help="split sizes: max deviation from the split rule, in sd of Binomial(n, p) (plus half a row)",
    )
    p.add_argument("--max-drift", type=float, default=0.25, help="max standardised mean difference vs train")
    p.add_argument("--min-r2", type=float, default=0.3, help="min baseline R^2 on validation and test")
    p.add_argument("--max-rmse", type=float, default=None, help="max baseline RMSE (optional)")
    return p.parse_args(argv)


def data_format(path: str, what: str) -> str:
    """csv | parquet of a file or folder (hidden and ``_`` files ignored); one format per input."""
    p = local_path(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"{what}: {path} does not exist")
    names = data_file_names(p)
    kinds = {"parquet" if n.endswith((".parquet", ".pq")) else "csv" for n in names}
    if len(kinds) != 1:
        raise ValueError(
            f"{what}: expected CSV or Parquet files (one format) under {path}, found {len(names)}"
        )
    return kinds.pop()


def read_split(spark: SparkSession, path: str, what: str) -> DataFrame:
    """Our Parquet (all columns) or the headerless CSV of ``split --format csv`` (label first)."""
    if data_format(path, what) == "csv":
        schema = T.StructType([T.StructField(c, T.DoubleType()) for c in CSV_COLUMNS])
        return spark.read.schema(schema).csv(path)
    df, missing = read_features_table(spark, path, CSV_COLUMNS)
    if missing:
        raise SchemaError(f"{what} {path}: missing column(s) {missing}")
    return df.select(
        *[F.col(c).cast("double") for c in CSV_COLUMNS],
        *[c for c in ("split", "row_hash") if c in df.columns],
    )


def check(name: str, ok: bool | None, detail: str) -> dict:
    return {"name": name, "status": "skip" if ok is None else ("pass" if ok else "fail"), "detail": detail}


def complete(c: str) -> Column:
    return F.col(c).isNotNull() & ~F.isnan(c) & ~F.col(c).isin(float("inf"), float("-inf"))


def all_complete() -> Column:
    """The label and every feature present and finite: the rows the moments and the model use."""
    cond = F.lit(True)
    for c in CSV_COLUMNS:
        cond = cond & complete(c)
    return cond


def split_stats(df: DataFrame, name: str, bucket_range: tuple[int, int]) -> dict:
    """One aggregation per split: counts, nulls, bad values, moments of complete rows, leakage counts."""
    ok = all_complete()
    any_null = F.greatest(*[F.col(c).isNull() | F.isnan(c) for c in CSV_COLUMNS])
    onehot_bad = F.greatest(*[~F.col(c).isin(0.0, 1.0) for c in ONE_HOT]) | (
        sum(F.col(c) for c in ONE_HOT) > 1
    )
    has_hash = "row_hash" in df.columns
    count_if = lambda cond: F.sum(F.when(cond, 1).otherwise(0))  # noqa: E731
    aggs = [F.count(F.lit(1)).alias("rows"), count_if(ok).alias("complete")]
    aggs += [count_if(F.col(c).isNull() | F.isnan(c)).alias(f"null_{c}") for c in CSV_COLUMNS]
    aggs += [count_if(~ok & ~any_null).alias("non_finite"), count_if(ok & onehot_bad).alias("onehot")]
    aggs += [F.mean(F.when(ok, F.col(c))).alias(f"mean_{c}") for c in FEATURES]
    aggs += [F.var_samp(F.when(ok, F.col(c))).alias(f"var_{c}") for c in FEATURES]
    if "split" in df.columns:
        aggs += [
            count_if(F.col("split").isNull()).alias("null_split"),
            count_if(F.col("split") != name).alias("split_label"),
        ]
    if has_hash:
        bucket = F.pmod(F.col("row_hash"), F.lit(10000))
        outside = (bucket < bucket_range[0]) | (bucket >= bucket_range[1])
        aggs += [
            count_if(F.col("row_hash").isNull()).alias("null_row_hash"),
            count_if(outside).alias("bucket"),
        ]
    row = df.agg(*aggs).first().asDict()
    get = lambda k: int(row.get(k) or 0)  # noqa: E731
    nulls = {c: get(f"null_{c}") for c in [*CSV_COLUMNS, "split", "row_hash"] if f"null_{c}" in row}
    return {
        "name": name,
        "rows": get("rows"),
        "complete": get("complete"),
        "nulls": nulls,
        "bad": {k: get(k) for k in ("non_finite", "onehot", "split_label", "bucket")},
        "mean": [row[f"mean_{c}"] or 0.0 for c in FEATURES],
        "var": [row[f"var_{c}"] or 0.0 for c in FEATURES],
        "has_hash": has_hash,
    }


def split_checks(
    stats: dict[str, dict],
    ratios: dict[str, float],
    ranges: dict[str, tuple[int, int]],
    args,
    transform: dict | None,
) -> list[dict]:
    out = []
    nulls = {c: sum(s["nulls"].get(c, 0) for s in stats.values()) for c in stats["train"]["nulls"]}
    bad_nulls = {c: n for c, n in nulls.items() if n}
    out.append(check("nulls", not bad_nulls, f"null values: {bad_nulls}" if bad_nulls else "no nulls"))
    bad = {
        f"{n}.{k}": v
        for n, s in stats.items()
        for k, v in s["bad"].items()
        if v and k in ("non_finite", "onehot")
    }
    out.append(
        check(
            "feature_values",
            not bad,
            f"invalid values: {bad}" if bad else "finite; one-hot in {0,1}, at most one 1",
        )
    )
    rows = {n: s["rows"] for n, s in stats.items()}
    problems = [f"{n} is empty" for n, r in rows.items() if r == 0]
    problems += [
        f"{n} has {s['bad']['split_label']} row(s) labelled another split"
        for n, s in stats.items()
        if s["bad"]["split_label"]
    ]
    if transform:
        expected = {n: transform.get("counts", {}).get(n) for n in SPLITS}
        problems += [
            f"{n}: {rows[n]} rows, preprocessing.json says {e}"
            for n, e in expected.items()
            if e is not None and e != rows[n]
        ]
    out.append(check("row_counts", not problems, "; ".join(problems) or f"rows per split {rows}"))
    out.append(check("split_sizes", *split_size_verdict(rows, ranges, args.split_max_sigma)))
    return out


def leakage_check(tables: dict[str, DataFrame], stats: dict[str, dict]) -> dict:
    if not all(s["has_hash"] for s in stats.values()):
        return check("leakage", None, "no row_hash column (CSV splits): not checked")
    misplaced = {n: s["bad"]["bucket"] for n, s in stats.items() if s["bad"]["bucket"]}
    if misplaced:
        return check("leakage", False, f"rows whose row_hash belongs to another split: {misplaced}")
    hashes = {n: df.select("row_hash").distinct() for n, df in tables.items()}
    shared = {
        f"{a}&{b}": hashes[a].intersect(hashes[b]).count()
        for a, b in [("train", "validation"), ("train", "test"), ("validation", "test")]
    }
    shared = {k: v for k, v in shared.items() if v}
    return check(
        "leakage", not shared, f"row_hash in two splits: {shared}" if shared else "no row_hash in two splits"
    )


def scaler_check(train: dict) -> dict:
    """Train numerics standardised with train statistics: mean 0, sample sd 1 (constant columns: 0)."""
    num = range(len(ONE_HOT), len(FEATURES))
    dev = max(
        [abs(train["mean"][i]) for i in num]
        + [abs(math.sqrt(train["var"][i]) - 1) for i in num if train["var"][i] > 0]
    )
    return check(
        "scaler_fitted_on_train", dev <= 1e-6, f"train numerics: max |mean|, |sd - 1| = {dev:.2e} (<= 1e-6)"
    )


def smd(train: dict, other: dict) -> dict[str, float]:
    """Standardised mean difference per feature: |mean_a - mean_b| / sqrt((var_a + var_b) / 2)."""
    out = {}
    for i, c in enumerate(FEATURES):
        pooled = math.sqrt((train["var"][i] + other["var"][i]) / 2)
        out[c] = abs(train["mean"][i] - other["mean"][i]) / pooled if pooled > 0 else 0.0
    return out


def baseline(tables: dict[str, DataFrame]) -> tuple[dict, dict]:
    """OLS on rings (Spark ML LinearRegression, no regularisation) on complete rows; metrics per split."""
    assembler = VectorAssembler(inputCols=FEATURES, outputCol="features", handleInvalid="skip")
    usable = {n: df.filter(all_complete()) for n, df in tables.items()}
    n_train = usable["train"].count()
    if n_train == 0:
        raise ValueError("no complete train rows to fit the baseline model")
    model = LinearRegression(featuresCol="features", labelCol="rings", regParam=0.0).fit(
        assembler.transform(usable["train"])
    )
    fit = {
        "method": f"Spark ML LinearRegression (no regularisation) on all {n_train} train rows",
        "intercept": float(model.intercept),
        "coefficients": {c: float(model.coefficients[i]) for i, c in enumerate(FEATURES)},
    }
    results = {}
    for name in ("validation", "test"):
        pred = model.transform(assembler.transform(usable[name]))
        rows = pred.count()
        if rows == 0:
            results[name] = {"rows": 0, "rmse": None, "mae": None, "r2": None}
            continue
        ev = RegressionEvaluator(labelCol="rings", predictionCol="prediction")
        r2 = ev.evaluate(pred, {ev.metricName: "r2"})
        results[name] = {
            "rows": rows,
            "rmse": ev.evaluate(pred, {ev.metricName: "rmse"}),
            "mae": ev.evaluate(pred, {ev.metricName: "mae"}),
            "r2": r2 if math.isfinite(r2) else None,
        }
    return fit, results


def raw_checks(spark: SparkSession, raw: str | None, report: dict) -> list[dict]:
    if raw is None:
        return [check("raw_ranges", None, "no raw input given")]
    fmt = data_format(raw, "--raw")
    df = spark.read.option("header", "true").csv(raw) if fmt == "csv" else spark.read.parquet(raw)
    v = {c: F.col(c).cast("string").try_cast("double") for c in [*NUMERIC, "rings"]}
    count_if = lambda cond: F.sum(F.when(cond, 1).otherwise(0))  # noqa: E731
    negative = sum(
        F.when(~(v[c] >= 0) | v[c].isin(float("inf"), float("-inf")), 1).otherwise(0) for c in NUMERIC
    )
    row = df.agg(
        F.count(F.lit(1)).alias("rows"),
        *[
            count_if(F.col(c).isNull() | (v[c].isNull() if c in v else F.lit(False))).alias(c)
            for c in ["sex", *v]
        ],
        count_if(~F.col("sex").isin("F", "I", "M")).alias("unknown_sex"),
        F.sum(negative).alias("negative_or_non_finite"),
        count_if((v["rings"] < 0) | (v["rings"] != F.floor(v["rings"]))).alias("bad_rings"),
    ).first()
    prof = {"rows": int(row["rows"]), "nulls": {c: int(row[c] or 0) for c in ["sex", *NUMERIC, "rings"]}}
    prof |= {k: int(row[k] or 0) for k in ("unknown_sex", "negative_or_non_finite", "bad_rings")}
    report["raw"] = prof
    problems = [
        f"{k}={v}"
        for k, v in prof.items()
        if k in ("unknown_sex", "negative_or_non_finite", "bad_rings") and v
    ]
    nulls = {c: n for c, n in prof["nulls"].items() if n}
    problems += [f"nulls {nulls}"] if nulls else []
    split_rows = sum(s["rows"] for s in report.get("splits", {}).values())
    return [
        check(
            "raw_ranges",
            not problems,
            "; ".join(problems) or "sex in F/I/M, numerics >= 0 and finite, rings integer >= 0",
        ),
        check(
            "raw_row_count", prof["rows"] == split_rows, f"raw {prof['rows']} rows, splits {split_rows} rows"
        ),
    ]


def resolve_optional(given: str | None, default: str, what: str) -> str | None:
    """An explicit path must exist; the default one is used only when present (the input is optional)."""
    if given is not None:
        if not os.path.exists(local_path(given)):
            raise FileNotFoundError(f"{what}: {given} does not exist")
        return given
    return default if os.path.exists(default) else None


def load_transform(path: str | None) -> dict | None:
    if path is None:
        return None
    p = local_path(path)
    with open(os.path.join(p, "preprocessing.json") if os.path.isdir(p) else p) as f:
        return json.load(f)


def evaluate(spark: SparkSession, args: argparse.Namespace, transform: dict | None) -> dict:
    ratios_doc = (transform or {}).get("ratios", {})
    tr, va = (
        float(ratios_doc.get("train", args.train_ratio)),
        float(ratios_doc.get("validation", args.validation_ratio)),
    )
    ratios = {"train": tr, "validation": va, "test": max(0.0, 1.0 - tr - va)}
    t1, t2 = round(tr * 10000), round((tr + va) * 10000)
    ranges = {"train": (0, t1), "validation": (t1, t2), "test": (t2, 10000)}
    try:
        tables = {n: read_split(spark, getattr(args, n), f"--{n}").cache() for n in SPLITS}
    except SchemaError as exc:
        return {"checks": [check("schema", False, str(exc))], "splits": {}, "metrics": {}, "drift": {}}
    stats = {n: split_stats(tables[n], n, ranges[n]) for n in SPLITS}
    checks = [check("schema", True, "all splits have the features table's columns")]
    checks += split_checks(stats, ratios, ranges, args, transform)
    checks += [leakage_check(tables, stats), scaler_check(stats["train"])]
    drift = {n: smd(stats["train"], stats[n]) for n in ("validation", "test") if stats[n]["complete"]}
    worst = max(((n, c, v) for n, d in drift.items() for c, v in d.items()), key=lambda t: t[2], default=None)
    if worst:
        detail = f"max SMD {worst[2]:.4f} ({worst[0]} vs train, {worst[1]}); limit {args.max_drift}"
        checks.append(check("drift", worst[2] <= args.max_drift, detail))
    fit, results = baseline(tables)
    for name, res in results.items():
        r2 = res["r2"] if res["r2"] is None else round(res["r2"], 4)
        checks.append(
            check(
                f"r2_{name}",
                res["r2"] is not None and res["r2"] >= args.min_r2,
                f"R^2 {name} {r2} (min {args.min_r2})",
            )
        )
        if args.max_rmse is not None:
            ok = res["rmse"] is not None and res["rmse"] <= args.max_rmse
            checks.append(check(f"rmse_{name}", ok, f"RMSE {name} {res['rmse']} (max {args.max_rmse})"))
    total = sum(s["rows"] for s in stats.values()) or 1
    bounds = split_bounds({n: s["rows"] for n, s in stats.items()}, ranges, args.split_max_sigma)
    splits = {
        n: {
            "rows": s["rows"],
            "fraction": s["rows"] / total,
            "expected_ratio": ratios[n],
            "allowed_deviation": bounds[n]["allowed_deviation"],
        }
        for n, s in stats.items()
    }
    return {"checks": checks, "splits": splits, "metrics": {"model": fit, **results}, "drift": drift}


def markdown(report: dict) -> str:
    lines = [
        f"# Validation report: {report['status'].upper()}",
        "",
        f"Engine: {report['engine']}. Generated ",
    ]
    lines[-1] += f"{report['generated_at']} in {report['elapsed_seconds']} s."
    lines += ["", "## Checks", "", "| check | status | detail |", "|---|---|---|"]
    lines += [
        f"| {c['name']} | {c['status']} | {c['detail'].replace('|', chr(92) + '|')} |"
        for c in report["checks"]
    ]
    if report.get("splits"):
        lines += ["", "## Split sizes", "", "| split | rows | fraction | expected | allowed +/- |"]
        lines += ["|---|---:|---:|---:|---:|"]
        lines += [
            f"| {n} | {s['rows']:,} | {s['fraction']:.4f} | {s['expected_ratio']:.4f} | {s['allowed_deviation']:.4f} |"
            for n, s in report["splits"].items()
        ]
        lines += [
            "",
            f"Allowed: {report['thresholds']['split_max_sigma']:g} sd of Binomial(n, p) + half a row.",
        ]
    model = report.get("metrics", {})
    if model:
        lines += [
            "",
            "## Baseline model (linear regression on rings)",
            "",
            f"Method: {model['model']['method']}.",
            "",
        ]
        lines += ["| split | rows | RMSE | MAE | R^2 |", "|---|---:|---:|---:|---:|"]
        fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        lines += [
            f"| {n} | {m['rows']:,} | {fmt(m['rmse'])} | {fmt(m['mae'])} | {fmt(m['r2'])} |"
            for n, m in model.items()
            if n != "model"
        ]
    for name, d in report.get("drift", {}).items():
        top = sorted(d.items(), key=lambda kv: -kv[1])[:3]
        lines += ["", f"Largest drift, {name} vs train (SMD): " + ", ".join(f"{c} {v:.4f}" for c, v in top)]
    return "\n".join(lines) + "\n"


def run(spark: SparkSession, args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    raw = resolve_optional(args.raw, "/opt/ml/processing/input/raw", "--raw")
    transform = load_transform(
        resolve_optional(args.transform, "/opt/ml/processing/input/transform", "--transform")
    )
    report = evaluate(spark, args, transform)
    report["checks"] += raw_checks(spark, raw, report)
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    report = {
        "status": "failed" if failed else "passed",
        "engine": "pyspark",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_seconds": round(time.perf_counter() - start, 3),
        "inputs": {"train": args.train, "validation": args.validation, "test": args.test, "raw": raw},
        "thresholds": {
            "split_max_sigma": args.split_max_sigma,
            "max_drift": args.max_drift,
            "min_r2": args.min_r2,
            "max_rmse": args.max_rmse,
        },
        **report,
    }
    report["inputs"]["transform"] = transform is not None
    for c in report["checks"]:
        LOG.info("check %-24s %-4s %s", c["name"], c["status"], c["detail"])
    write_text(args.output, "validation_report.json", json.dumps(report, indent=2) + "\n")
    write_text(args.output, "validation_report.md", markdown(report))
    LOG.info("wrote validation_report.json and validation_report.md to %s", args.output)
    return report


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    shared = shared_session()
    spark = spark_session("abalone-validate")
    try:
        report = run(spark, args)
    except Exception as exc:
        write_message(
            args.message_file, f"validation could not run: {type(exc).__name__}: {exc}", LOG, MESSAGE_WARNING
        )
        LOG.exception("validation could not run")
        return 1
    finally:
        if not shared:
            spark.stop()
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    if failed:
        reason = "; ".join(f"{c['name']}: {c['detail']}" for c in failed)
        write_message(args.message_file, f"validation failed: {reason}", LOG, MESSAGE_WARNING)
        LOG.error("validation failed: %s", reason)
        return 1
    LOG.info("validation passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
