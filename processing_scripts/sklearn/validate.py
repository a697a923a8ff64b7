"""Validation job (scikit-learn container): data checks + a baseline model, as a gate in the pipeline.

Streams each split once (any size): schema, nulls, ranges, row counts, split sizes vs the split rule
(a binomial bound, `--split-max-sigma` sd), no leakage (every `row_hash` sits in its own split's hash
bucket, and no hash is in two splits), drift of validation/test vs train (standardised mean
difference), the scaler really fitted on train (train numerics have mean 0, sd 1), and a baseline
linear regression on `rings` (RMSE, MAE, R^2).
Writes validation_report.json and validation_report.md; a failed check exits 1 with a one-line reason
in /opt/ml/output/message (SageMaker's ExitMessage). Self-contained: uploaded alone as the job's code.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

log = logging.getLogger("validate")

SPLITS = ["train", "validation", "test"]
NUMERIC = ["length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight"]
ONEHOT = ["sex_F", "sex_I", "sex_M"]
FEATURES = [*ONEHOT, *NUMERIC]
CSV_COLUMNS = ["rings", *FEATURES]
BATCH_ROWS = 262_144
RAW_TYPES = {"sex": pa.string(), **{c: pa.float64() for c in [*NUMERIC, "rings"]}}


def data_files(path: Path, what: str) -> tuple[list[Path], str]:
    """Data files under a file or folder (skipping hidden/_ files) and their format (csv|parquet)."""
    if not path.exists():
        raise FileNotFoundError(f"{what}: {path} does not exist")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    files = [p for p in files if not p.name.startswith((".", "_"))]
    kinds = {"parquet" if p.name.endswith((".parquet", ".pq")) else "csv" for p in files}
    if not files or len(kinds) != 1:
        raise ValueError(
            f"{what}: expected CSV or Parquet files (one format) under {path}, found {len(files)}"
        )
    return files, kinds.pop()


def iter_split(path: Path, what: str):
    """Batches of a split: our Parquet (all columns) or the headerless CSV of `split --format csv`."""
    files, fmt = data_files(path, what)
    for f in files:
        if fmt == "parquet":
            pfile = pq.ParquetFile(f)
            missing = [c for c in CSV_COLUMNS if c not in pfile.schema_arrow.names]
            if missing:
                raise SchemaError(f"{what} {f}: missing column(s) {missing}")
            yield from pfile.iter_batches(batch_size=BATCH_ROWS)
        else:
            options = pacsv.ReadOptions(column_names=CSV_COLUMNS, block_size=16 << 20)
            types = pacsv.ConvertOptions(column_types={c: pa.float64() for c in CSV_COLUMNS})
            yield from pacsv.open_csv(f, read_options=options, convert_options=types)


class SchemaError(ValueError):
    """A split's columns are not the features table's."""


class SplitStats:
    """Streaming statistics of one split."""

    def __init__(self, name: str, bucket_range: tuple[int, int]) -> None:
        self.name, self.bucket_range = name, bucket_range
        self.rows = 0
        self.nulls = dict.fromkeys(["rings", *FEATURES, "split", "row_hash"], 0)
        self.bad = {"non_finite": 0, "onehot": 0, "split_label": 0, "bucket": 0}
        self.sum = np.zeros(len(FEATURES))
        self.sumsq = np.zeros(len(FEATURES))
        self.complete = 0  # rows with no null feature/label (used for moments and the model)
        self.hashes: list[np.ndarray] = []
        self.has_hash = False

    def add(self, batch: pa.RecordBatch, keep_hashes: bool) -> tuple[np.ndarray, np.ndarray]:
        """Fold a batch in; return its complete rows as (X, y) for the model."""
        names = batch.schema.names
        self.rows += batch.num_rows
        for col in self.nulls:
            if col in names:
                self.nulls[col] += batch.column(col).null_count
        X = np.column_stack([batch.column(c).to_numpy(zero_copy_only=False) for c in FEATURES]).astype(
            np.float64
        )
        y = batch.column("rings").to_numpy(zero_copy_only=False).astype(np.float64)
        finite = np.isfinite(X).all(axis=1) & np.isfinite(y)
        self.bad["non_finite"] += int((~finite).sum()) - self._null_rows(batch)
        X, y = X[finite], y[finite]
        onehot = X[:, :3]
        self.bad["onehot"] += int(
            (((onehot != 0) & (onehot != 1)).any(axis=1) | (onehot.sum(axis=1) > 1)).sum()
        )
        self.sum += X.sum(axis=0)
        self.sumsq += (X * X).sum(axis=0)
        self.complete += len(y)
        if "split" in names:
            self.bad["split_label"] += int(
                pc.sum(pc.not_equal(batch.column("split"), self.name)).as_py() or 0
            )
        if "row_hash" in names:
            self.has_hash = True
            h = batch.column("row_hash").to_numpy(zero_copy_only=False).astype(np.int64)
            bucket = h % 10000
            self.bad["bucket"] += int(
                ((bucket < self.bucket_range[0]) | (bucket >= self.bucket_range[1])).sum()
            )
            if keep_hashes:
                self.hashes.append(h.copy())
        return X, y

    @staticmethod
    def _null_rows(batch: pa.RecordBatch) -> int:
        mask = np.zeros(batch.num_rows, dtype=bool)
        for c in ["rings", *FEATURES]:
            if batch.column(c).null_count:
                mask |= ~batch.column(c).is_valid().to_numpy(zero_copy_only=False)
        return int(mask.sum())

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        n = max(self.complete, 1)
        mean = self.sum / n
        var = np.maximum(self.sumsq / n - mean * mean, 0.0) * (n / max(n - 1, 1))
        return mean, var


class Regression:
    """Baseline OLS on rings: sklearn's LinearRegression on all train rows up to a bound, beyond it the
    same least-squares solution from normal equations accumulated chunk by chunk."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.xtx = np.zeros((len(FEATURES) + 1, len(FEATURES) + 1))
        self.xty = np.zeros(len(FEATURES) + 1)
        self.kept: list[tuple[np.ndarray, np.ndarray]] | None = []
        self.n = 0

    def add(self, X: np.ndarray, y: np.ndarray) -> None:
        Xa = np.column_stack([np.ones(len(y)), X])
        self.xtx += Xa.T @ Xa
        self.xty += Xa.T @ y
        self.n += len(y)
        if self.kept is not None:
            self.kept.append((X, y))
            if self.n > self.max_rows:
                self.kept = None  # too big to hold: the normal equations take over

    def fit(self) -> dict:
        if self.n == 0:
            raise ValueError("no complete train rows to fit the baseline model")
        if self.kept is not None:
            from sklearn.linear_model import LinearRegression

            model = LinearRegression().fit(
                np.vstack([x for x, _ in self.kept]), np.concatenate([y for _, y in self.kept])
            )
            self.coef = np.concatenate([[model.intercept_], model.coef_])
            method = f"sklearn LinearRegression on all {self.n} train rows"
        else:
            self.coef = np.linalg.lstsq(self.xtx, self.xty, rcond=None)[0]
            method = f"least squares from normal equations accumulated over all {self.n} train rows (chunked)"
        self.kept = None
        return {
            "method": method,
            "intercept": float(self.coef[0]),
            "coefficients": {c: float(self.coef[1 + i]) for i, c in enumerate(FEATURES)},
        }

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.coef[0] + X @ self.coef[1:]


class Metrics:
    def __init__(self) -> None:
        self.n, self.sse, self.sae, self.sy, self.syy = 0, 0.0, 0.0, 0.0, 0.0

    def add(self, y: np.ndarray, pred: np.ndarray) -> None:
        err = y - pred
        self.n += len(y)
        self.sse += float(err @ err)
        self.sae += float(np.abs(err).sum())
        self.sy += float(y.sum())
        self.syy += float(y @ y)

    def result(self) -> dict:
        if self.n == 0:
            return {"rows": 0, "rmse": None, "mae": None, "r2": None}
        sst = self.syy - self.sy * self.sy / self.n
        r2 = 1.0 - self.sse / sst if sst > 0 else None
        return {"rows": self.n, "rmse": (self.sse / self.n) ** 0.5, "mae": self.sae / self.n, "r2": r2}


def raw_profile(path: Path) -> dict:
    """Row count, nulls and out-of-range values of the raw input (CSV with header, or Parquet)."""
    files, fmt = data_files(path, "--raw")
    prof = {"rows": 0, "nulls": dict.fromkeys(RAW_TYPES, 0), "unknown_sex": 0, "negative_or_non_finite": 0}
    prof["bad_rings"] = 0
    for f in files:
        if fmt == "csv":
            convert = pacsv.ConvertOptions(column_types=RAW_TYPES, include_columns=list(RAW_TYPES))
            batches = pacsv.open_csv(
                f, read_options=pacsv.ReadOptions(block_size=16 << 20), convert_options=convert
            )
        else:
            batches = pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS, columns=list(RAW_TYPES))
        for batch in batches:
            prof["rows"] += batch.num_rows
            for c in RAW_TYPES:
                prof["nulls"][c] += batch.column(c).null_count
            sex = pc.cast(batch.column("sex"), pa.string())
            prof["unknown_sex"] += int(
                pc.sum(pc.invert(pc.is_in(sex, value_set=pa.array(["F", "I", "M"])))).as_py() or 0
            )
            for c in NUMERIC:
                v = pc.cast(batch.column(c), pa.float64()).to_numpy(zero_copy_only=False)
                prof["negative_or_non_finite"] += int(
                    (~(v >= 0) & ~np.isnan(v)).sum() + (~np.isfinite(v[~np.isnan(v)])).sum()
                )
            r = pc.cast(batch.column("rings"), pa.float64()).to_numpy(zero_copy_only=False)
            r = r[~np.isnan(r)]
            prof["bad_rings"] += int(((r < 0) | (r != np.floor(r))).sum())
    return prof


def check(name: str, ok: bool | None, detail: str) -> dict:
    return {"name": name, "status": "skip" if ok is None else ("pass" if ok else "fail"), "detail": detail}


def smd(train: SplitStats, other: SplitStats) -> dict[str, float]:
    """Standardised mean difference per feature: |mean_a - mean_b| / sqrt((var_a + var_b) / 2)."""
    (ma, va), (mb, vb) = train.moments(), other.moments()
    pooled = np.sqrt((va + vb) / 2)
    diff = np.where(pooled > 0, np.abs(ma - mb) / np.where(pooled > 0, pooled, 1), 0.0)
    return {c: float(diff[i]) for i, c in enumerate(FEATURES)}


def split_checks(
    stats: dict[str, SplitStats],
    ratios: dict[str, float],
    ranges: dict[str, tuple[int, int]],
    args,
    transform: dict | None,
) -> list[dict]:
    out = []
    nulls = {c: sum(s.nulls[c] for s in stats.values()) for c in stats["train"].nulls}
    bad_nulls = {c: n for c, n in nulls.items() if n}
    out.append(check("nulls", not bad_nulls, f"null values: {bad_nulls}" if bad_nulls else "no nulls"))
    bad = {
        f"{s.name}.{k}": v
        for s in stats.values()
        for k, v in s.bad.items()
        if v and k in ("non_finite", "onehot")
    }
    out.append(
        check(
            "feature_values",
            not bad,
            f"invalid values: {bad}" if bad else "finite; one-hot in {0,1}, at most one 1",
        )
    )
    rows = {s.name: s.rows for s in stats.values()}
    problems = [f"{n} is empty" for n, r in rows.items() if r == 0 and ratios[n] > 0]
    problems += [
        f"{s.name} has {s.bad['split_label']} row(s) labelled another split"
        for s in stats.values()
        if s.bad["split_label"]
    ]
    if transform:
        expected = {n: transform.get("counts", {}).get(n) for n in SPLITS}
        problems += [
            f"{n}: {rows[n]} rows, preprocessing.json says {e}"
            for n, e in expected.items()
            if e is not None and e != rows[n]
        ]
    out.append(check("row_counts", not problems, "; ".join(problems) or f"rows per split {rows}"))
    out.append(split_size_check(rows, ranges, args.split_max_sigma))
    out.append(leakage_check(stats))
    mean, var = stats["train"].moments()
    num = slice(len(ONEHOT), None)
    dev = max(
        float(np.max(np.abs(mean[num]), initial=0)),
        float(np.max(np.abs(np.sqrt(var[num][var[num] > 0]) - 1), initial=0)),
    )
    out.append(
        check(
            "scaler_fitted_on_train",
            dev <= 1e-6,
            f"train numerics: max |mean|, |sd - 1| = {dev:.2e} (<= 1e-6)",
        )
    )
    return out


def split_bounds(rows: dict[str, int], ranges: dict[str, tuple[int, int]], max_sigma: float) -> dict:
    """Per split: its fraction, the rule's probability p and the deviation the binomial bound allows.

    The split rule puts each row in a split by its own hash bucket (``pmod(row_hash, 10000)``), whatever
    the other rows, so a split's row count is Binomial(n, p), p = its bucket range / 10000, and its
    fraction has sd sqrt(p (1 - p) / n): 0.0067 for p = 0.25 on Abalone's 4,177 rows, 0.00014 on 10M.
    A fixed tolerance is too tight on small data (0.02 is 3 sd there) and far too loose on big data.
    Allowed: |fraction - p| <= max_sigma * sd + 0.5 / n (half a row, counts being whole); at 5 sd a
    correct split fails one check in ~1.7 million. Exact duplicate rows share a hash (one draw), so with
    many duplicates the real spread is larger than this n assumes.
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


def split_size_check(rows: dict[str, int], ranges: dict[str, tuple[int, int]], max_sigma: float) -> dict:
    """The split_sizes check: every split within ``split_bounds``' binomial bound (the detail says it)."""
    n = sum(rows.values())
    if n == 0:
        return check("split_sizes", None, "no rows: nothing to compare with the split rule")
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
        return check("split_sizes", True, f"{', '.join(parts)}; bound {rule}")
    why = "; ".join(
        f"{s} has {rows[s]} of {n} rows ({bounds[s]['fraction']:.4f}), "
        + (
            f"{bounds[s]['sigmas']:.1f} sd from the rule's {bounds[s]['p']:.4f}"
            if bounds[s]["sigmas"] is not None
            else f"the rule gives it exactly {bounds[s]['p']:.4f}"
        )
        for s in outside
    )
    return check("split_sizes", False, f"{why}; allowed {rule}: not a hash split with these ratios")


def leakage_check(stats: dict[str, SplitStats]) -> dict:
    if not all(s.has_hash for s in stats.values()):
        return check("leakage", None, "no row_hash column (CSV splits): not checked")
    misplaced = {s.name: s.bad["bucket"] for s in stats.values() if s.bad["bucket"]}
    if misplaced:
        return check("leakage", False, f"rows whose row_hash belongs to another split: {misplaced}")
    if any(not s.hashes for s in stats.values() if s.rows):
        return check(
            "leakage",
            True,
            "every row_hash is in its own split's bucket range (exact set check skipped: too many rows)",
        )
    # Sort + binary search: numpy's hash-based unique is several times slower on millions of rows.
    hashes = {
        n: np.sort(np.concatenate(s.hashes)) if s.hashes else np.empty(0, np.int64) for n, s in stats.items()
    }
    shared = {}
    for a, b in [("train", "validation"), ("train", "test"), ("validation", "test")]:
        rows = _rows_in(hashes[b], hashes[a])
        if rows:
            shared[f"{b} rows with a {a} row_hash"] = rows
    return check(
        "leakage", not shared, f"row_hash in two splits: {shared}" if shared else "no row_hash in two splits"
    )


def _rows_in(values: np.ndarray, sorted_ref: np.ndarray) -> int:
    """How many of ``values`` occur in the sorted array ``sorted_ref``."""
    if not len(values) or not len(sorted_ref):
        return 0
    idx = np.minimum(np.searchsorted(sorted_ref, values), len(sorted_ref) - 1)
    return int((sorted_ref[idx] == values).sum())


def resolve_optional(given: Path | None, default: str, what: str) -> Path | None:
    """An explicit path must exist; the default one is used only when present (the input is optional)."""
    if given is not None:
        if not given.exists():
            raise FileNotFoundError(f"{what}: {given} does not exist")
        return given
    return Path(default) if Path(default).exists() else None


def load_transform(path: Path | None) -> dict | None:
    if path is None:
        return None
    doc_path = path / "preprocessing.json" if path.is_dir() else path
    return json.loads(doc_path.read_text())


def evaluate(args: argparse.Namespace, transform: dict | None) -> dict:
    """Stream the three splits; return the report (checks, sizes, drift, model metrics)."""
    train_ratio = float((transform or {}).get("ratios", {}).get("train", args.train_ratio))
    val_ratio = float((transform or {}).get("ratios", {}).get("validation", args.validation_ratio))
    ratios = {"train": train_ratio, "validation": val_ratio, "test": max(0.0, 1.0 - train_ratio - val_ratio)}
    t1, t2 = round(train_ratio * 10000), round((train_ratio + val_ratio) * 10000)
    ranges = {"train": (0, t1), "validation": (t1, t2), "test": (t2, 10000)}
    stats = {n: SplitStats(n, ranges[n]) for n in SPLITS}
    model, metrics = Regression(args.max_fit_rows), {n: Metrics() for n in ("validation", "test")}
    paths = {"train": args.train, "validation": args.validation, "test": args.test}
    keep = True
    try:
        for batch in iter_split(paths["train"], "--train"):
            keep = keep and stats["train"].rows < args.max_exact_leakage_rows
            model.add(*stats["train"].add(batch, keep))
        fit = model.fit() if model.n else {"method": "not fitted: no complete train rows"}
        for name in ("validation", "test"):
            for batch in iter_split(paths[name], f"--{name}"):
                keep = keep and sum(s.rows for s in stats.values()) < args.max_exact_leakage_rows
                X, y = stats[name].add(batch, keep)
                if model.n and len(y):
                    metrics[name].add(y, model.predict(X))
            if not keep:
                for s in stats.values():
                    s.hashes = []
    except SchemaError as exc:
        return {"checks": [check("schema", False, str(exc))], "splits": {}, "metrics": {}, "drift": {}}
    checks = [check("schema", True, "all splits have the features table's columns")]
    checks += split_checks(stats, ratios, ranges, args, transform)
    drift = {n: smd(stats["train"], stats[n]) for n in ("validation", "test") if stats[n].complete}
    worst = max(((n, c, v) for n, d in drift.items() for c, v in d.items()), key=lambda t: t[2], default=None)
    if worst:
        checks.append(
            check(
                "drift",
                worst[2] <= args.max_drift,
                f"max SMD {worst[2]:.4f} ({worst[0]} vs train, {worst[1]}); limit {args.max_drift}",
            )
        )
    results = {n: m.result() for n, m in metrics.items()}
    for name, res in results.items():
        empty_by_design = res["rows"] == 0 and ratios[name] == 0  # e.g. --validation-ratio 0.3, no test
        ok = None if empty_by_design else (res["r2"] is not None and res["r2"] >= args.min_r2)
        checks.append(
            check(
                f"r2_{name}",
                ok,
                f"R^2 {name} {res['r2'] if res['r2'] is None else round(res['r2'], 4)} (min {args.min_r2})",
            )
        )
        if args.max_rmse is not None:
            checks.append(
                check(
                    f"rmse_{name}",
                    res["rmse"] is not None and res["rmse"] <= args.max_rmse,
                    f"RMSE {name} {res['rmse']} (max {args.max_rmse})",
                )
            )
    total = sum(s.rows for s in stats.values()) or 1
    bounds = split_bounds({n: s.rows for n, s in stats.items()}, ranges, args.split_max_sigma)
    splits = {
        n: {
            "rows": s.rows,
            "fraction": s.rows / total,
            "expected_ratio": ratios[n],
            "allowed_deviation": bounds[n]["allowed_deviation"],
        }
        for n, s in stats.items()
    }
    return {"checks": checks, "splits": splits, "metrics": {"model": fit, **results}, "drift": drift}


def raw_checks(args: argparse.Namespace, raw: Path | None, report: dict) -> list[dict]:
    if raw is None:
        return [check("raw_ranges", None, "no raw input given")]
    prof = raw_profile(raw)
    report["raw"] = prof
    problems = [
        f"{k}={v}"
        for k, v in prof.items()
        if k in ("unknown_sex", "negative_or_non_finite", "bad_rings") and v
    ]
    nulls = {c: n for c, n in prof["nulls"].items() if n}
    problems += [f"nulls {nulls}"] if nulls else []
    out = [
        check(
            "raw_ranges",
            not problems,
            "; ".join(problems) or "sex in F/I/M, numerics >= 0 and finite, rings integer >= 0",
        )
    ]
    split_rows = sum(s["rows"] for s in report.get("splits", {}).values())
    out.append(
        check(
            "raw_row_count", prof["rows"] == split_rows, f"raw {prof['rows']} rows, splits {split_rows} rows"
        )
    )
    return out


def markdown(report: dict) -> str:
    lines = [
        f"# Validation report: {report['status'].upper()}",
        "",
        f"Generated {report['generated_at']} in {report['elapsed_seconds']} s.",
        "",
    ]
    lines += ["## Checks", "", "| check | status | detail |", "|---|---|---|"]
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


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_message(path: Path, text: str) -> None:
    """SageMaker turns /opt/ml/output/message into the job's ExitMessage; never fail because of it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("\n", " ")[:1000] + "\n")
    except OSError as exc:
        log.warning("could not write the message file %s: %s", path, exc)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Data checks and a baseline model on the train/validation/test splits."
    )
    for name in SPLITS:
        p.add_argument(f"--{name}", type=Path, default=Path(f"/opt/ml/processing/input/{name}"))
    p.add_argument(
        "--raw",
        type=Path,
        default=None,
        help="raw input (optional; default /opt/ml/processing/input/raw if present)",
    )
    p.add_argument(
        "--transform",
        type=Path,
        default=None,
        help="preprocessing.json or its folder (default /opt/ml/processing/input/transform if present)",
    )
    p.add_argument("--output", type=Path, default=Path("/opt/ml/processing/output/report"))
    p.add_argument("--message-file", type=Path, default=Path("/opt/ml/output/message"))
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
    p.add_argument(
        "--max-fit-rows", type=int, default=1_000_000, help="beyond this, fit from chunked normal equations"
    )
    p.add_argument(
        "--max-exact-leakage-rows", type=int, default=50_000_000, help="beyond this, only the bucket check"
    )
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    raw = resolve_optional(args.raw, "/opt/ml/processing/input/raw", "--raw")
    transform = load_transform(
        resolve_optional(args.transform, "/opt/ml/processing/input/transform", "--transform")
    )
    report = evaluate(args, transform)
    report["checks"] += raw_checks(args, raw, report)
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    report = {
        "status": "failed" if failed else "passed",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_seconds": round(time.perf_counter() - start, 3),
        "inputs": {
            "train": str(args.train),
            "validation": str(args.validation),
            "test": str(args.test),
            "raw": str(raw) if raw else None,
            "transform": transform is not None,
        },
        "thresholds": {
            "split_max_sigma": args.split_max_sigma,
            "max_drift": args.max_drift,
            "min_r2": args.min_r2,
            "max_rmse": args.max_rmse,
        },
        **report,
    }
    for c in report["checks"]:
        log.info("check %-24s %-4s %s", c["name"], c["status"], c["detail"])
    write_atomic(args.output / "validation_report.json", json.dumps(report, indent=2) + "\n")
    write_atomic(args.output / "validation_report.md", markdown(report))
    log.info(
        "wrote %s and validation_report.md in %.2f s",
        args.output / "validation_report.json",
        time.perf_counter() - start,
    )
    return report


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    args = parse_args(argv)
    try:
        report = run(args)
    except Exception as exc:
        write_message(args.message_file, f"validation could not run: {type(exc).__name__}: {exc}")
        log.exception("validation could not run")
        return 1
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    if failed:
        reason = "; ".join(f"{c['name']}: {c['detail']}" for c in failed)
        write_message(args.message_file, f"validation failed: {reason}")
        log.error("validation failed: %s", reason)
        return 1
    log.info("validation passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
