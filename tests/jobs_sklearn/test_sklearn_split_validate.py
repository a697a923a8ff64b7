"""split.py and validate.py, and the whole chain on the shipped Abalone data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

SPLITS = ["train", "validation", "test"]
ABALONE = Path(__file__).resolve().parents[2] / "data" / "abalone.csv"


def _validate(run_job, root, splits, out, *extra):
    args = [
        "--train",
        splits / "train",
        "--validation",
        splits / "validation",
        "--test",
        splits / "test",
        "--output",
        out,
        "--message-file",
        out / "message",
        *extra,
    ]
    return run_job("validate", *args, check=False)


def test_chain_on_abalone(abalone_chain):
    root, proc = abalone_chain
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((root / "transform" / "preprocessing.json").read_text())
    report = json.loads((root / "report" / "validation_report.json").read_text())
    assert report["status"] == "passed"
    assert {c["name"] for c in report["checks"]} >= {
        "schema",
        "nulls",
        "row_counts",
        "split_sizes",
        "leakage",
        "drift",
        "r2_validation",
        "r2_test",
        "raw_ranges",
    }
    counts = {s: pq.read_table(root / "splits" / s).num_rows for s in SPLITS}
    assert counts == {s: doc["counts"][s] for s in SPLITS} and sum(counts.values()) == 4177
    for s, ratio in zip(SPLITS, [0.7, 0.15, 0.15], strict=True):
        assert abs(counts[s] / 4177 - ratio) < 0.02
    assert 0.4 < report["metrics"]["test"]["r2"] < 0.7 and 0.4 < report["metrics"]["validation"]["r2"] < 0.7
    assert (root / "report" / "validation_report.md").read_text().startswith("# Validation report: PASSED")
    train = pq.read_table(root / "splits" / "train").to_pandas()
    assert set(train.split) == {"train"}
    assert np.allclose(train[["length", "shell_weight"]].mean(), 0, atol=1e-9)


def test_split_csv_format_and_mixed_input(run_job, abalone_chain, tmp_path):
    root, _ = abalone_chain
    # One Parquet file holding all splits (as Spark writes it): the split job must stream and filter.
    mixed = pa.concat_tables([pq.read_table(root / "features" / f"{s}.parquet") for s in SPLITS])
    pq.write_table(
        mixed.take(np.random.default_rng(0).permutation(mixed.num_rows)), tmp_path / "mixed.parquet"
    )
    run_job(
        "split",
        "--input",
        tmp_path / "mixed.parquet",
        "--output",
        tmp_path / "pq",
        "--message-file",
        tmp_path / "msg",
    )
    run_job(
        "split",
        "--input",
        tmp_path / "mixed.parquet",
        "--output",
        tmp_path / "csv",
        "--format",
        "csv",
        "--message-file",
        tmp_path / "msg",
    )
    for s in SPLITS:
        expected = (
            pq.read_table(root / "splits" / s).to_pandas().sort_values("row_hash").reset_index(drop=True)
        )
        got = pq.read_table(tmp_path / "pq" / s).to_pandas().sort_values("row_hash").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected)
        csv = pd.read_csv(tmp_path / "csv" / s / "part-00000.csv", header=None)
        assert csv.shape == (len(expected), 11)
        assert (csv[0] == csv[0].round()).all() and csv[0].between(1, 29).all()  # label first
        np.testing.assert_allclose(np.sort(csv[0]), np.sort(expected.rings))
        np.testing.assert_allclose(np.sort(csv[10]), np.sort(expected.shell_weight), rtol=1e-15)


def test_impossible_r2_fails_with_one_line_message(run_job, abalone_chain, tmp_path):
    root, _ = abalone_chain
    proc = _validate(run_job, root, root / "splits", tmp_path / "r", "--min-r2", "0.99")
    assert proc.returncode == 1
    message = (tmp_path / "r" / "message").read_text()
    assert message.startswith("validation failed: r2_validation") and message.count("\n") == 1
    assert json.loads((tmp_path / "r" / "validation_report.json").read_text())["status"] == "failed"


def test_injected_nulls_and_leakage_fail(run_job, abalone_chain, tmp_path):
    root, _ = abalone_chain
    splits = tmp_path / "splits"
    tables = {s: pq.read_table(root / "splits" / s) for s in SPLITS}
    test_rows = tables["test"].slice(0, 5)
    train = pa.concat_tables([tables["train"], test_rows])  # 5 test rows leak into train
    length = train.column("length").to_pylist()
    length[3] = None
    train = train.set_column(train.schema.get_field_index("length"), "length", pa.array(length, pa.float64()))
    for s, table in {**tables, "train": train}.items():
        (splits / s).mkdir(parents=True)
        pq.write_table(table, splits / s / "part-00000.parquet")
    proc = _validate(run_job, root, splits, tmp_path / "r")
    assert proc.returncode == 1
    report = json.loads((tmp_path / "r" / "validation_report.json").read_text())
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert status["nulls"] == "fail" and status["leakage"] == "fail"
    message = (tmp_path / "r" / "message").read_text()
    assert "nulls" in message and "leakage" in message and message.count("\n") == 1


def test_missing_split_input_fails_cleanly(run_job, abalone_chain, tmp_path):
    root, _ = abalone_chain
    proc = run_job(
        "validate",
        "--train",
        root / "splits" / "train",
        "--validation",
        tmp_path / "nope",
        "--test",
        root / "splits" / "test",
        "--output",
        tmp_path / "r",
        "--message-file",
        tmp_path / "deep" / "message",
        check=False,
    )
    assert proc.returncode == 1
    assert "--validation" in (tmp_path / "deep" / "message").read_text()


def test_split_sizes_bound_scales_with_n(run_job, tmp_path):
    """Issue 9 item 8: seed 7, train ratio 0.6 on Abalone puts test at 0.2701 (expected 0.25), 3.0 sd off
    on 4,177 rows: the old fixed 0.02 tolerance failed it; the binomial bound (5 sd) passes it."""
    root = tmp_path
    run_job("feature_engineering", "--input", ABALONE, "--output", root / "features",
            "--transform-output", root / "transform", "--seed", 7, "--train-ratio", 0.6,
            "--message-file", root / "msg")  # fmt: skip
    run_job(
        "split", "--input", root / "features", "--output", root / "splits", "--message-file", root / "msg"
    )
    proc = _validate(
        run_job, root, root / "splits", root / "r", "--raw", ABALONE, "--transform", root / "transform"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((root / "r" / "validation_report.json").read_text())
    sizes = next(c for c in report["checks"] if c["name"] == "split_sizes")
    assert sizes["status"] == "pass"
    assert "test 0.2701 (expected 0.2500 +/- 0.0336)" in sizes["detail"]
    assert "5 sd of Binomial(n=4177, p) + 0.5/n" in sizes["detail"]
    assert report["thresholds"]["split_max_sigma"] == 5.0
    # the bound: 5 * sqrt(p (1 - p) / n) + 0.5 / n, from n and p alone
    for name, p in (("train", 0.6), ("validation", 0.15), ("test", 0.25)):
        expected = 5 * (p * (1 - p) / 4177) ** 0.5 + 0.5 / 4177
        assert report["splits"][name]["allowed_deviation"] == pytest.approx(expected, rel=1e-12)
    assert "| test | 1,128 | 0.2701 | 0.2500 | 0.0336 |" in (root / "r" / "validation_report.md").read_text()
    # the same data at 2 sd: the report says exactly which split is too far and by how much
    proc = _validate(run_job, root, root / "splits", root / "r2", "--transform", root / "transform",
                     "--split-max-sigma", 2)  # fmt: skip
    assert proc.returncode == 1
    message = (root / "r2" / "message").read_text()
    assert message.startswith("validation failed: split_sizes: train has 2441 of 4177 rows (0.5844), 2.1 sd")
    assert "; test has 1128 of 4177 rows (0.2701), 3.0 sd from the rule's 0.2500; allowed 2 sd" in message


def test_a_wrong_split_fails_split_sizes(run_job, abalone_chain, tmp_path):
    """CSV splits (no row_hash: leakage cannot tell) where 200 test rows were put in train: only the size
    check can see it, and it fails, naming the split, its count and how many sd it is off."""
    root, _ = abalone_chain
    splits = tmp_path / "splits"
    run_job("split", "--input", root / "features", "--output", splits, "--format", "csv",
            "--message-file", tmp_path / "msg")  # fmt: skip
    test_rows = (splits / "test" / "part-00000.csv").read_text().splitlines(keepends=True)
    with (splits / "train" / "part-00000.csv").open("a") as train:
        train.writelines(test_rows[:200])
    (splits / "test" / "part-00000.csv").write_text("".join(test_rows[200:]))
    proc = _validate(run_job, root, splits, tmp_path / "r")
    assert proc.returncode == 1
    report = json.loads((tmp_path / "r" / "validation_report.json").read_text())
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert status["split_sizes"] == "fail" and status["leakage"] == "skip" and status["row_counts"] == "pass"
    message = (tmp_path / "r" / "message").read_text()
    assert message.count("\n") == 1 and message.startswith("validation failed: split_sizes: ")
    assert (
        f"test has {len(test_rows) - 200} of 4177 rows" in message and "sd from the rule's 0.1500" in message
    )
    assert "allowed 5 sd of Binomial(n=4177, p) + 0.5/n: not a hash split with these ratios" in message
