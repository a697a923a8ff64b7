"""feature_engineering.py on small hand-made data: known answers, fit on train only, input forms."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

NUMERIC = ["length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight"]
COLUMNS = ["rings", "sex_F", "sex_I", "sex_M", *NUMERIC, "split", "row_hash"]


def _raw(n: int = 60, seed: int = 3) -> pd.DataFrame:
    """Unique rows; `height` constant so its train deviation is 0; every sex incl. an unknown one."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"sex": (["F", "I", "M", "X"] * n)[:n]})
    for j, c in enumerate(NUMERIC):
        df[c] = np.round(rng.uniform(0.05, 1.0 + j, n), 4)
    df["height"] = 0.25
    df["rings"] = rng.integers(1, 30, n)
    return df


def _splits_of(fe, df: pd.DataFrame, seed: int = 42) -> np.ndarray:
    """Split codes of the raw rows, computed with the job's own hash functions (checked vs Spark elsewhere)."""
    codes = np.select([df.sex == "F", df.sex == "I", df.sex == "M"], [1, 2, 3], 0).astype(np.int64)
    cols = [(codes, None)] + [(fe.quantise(df[c].to_numpy(float)), None) for c in NUMERIC]
    cols.append((df.rings.to_numpy(np.int64), None))
    seed_state = fe.xxhash64_longs([(np.array([seed]), None)], 1)[0].astype(np.uint64)
    return fe.assign_split(fe.xxhash64_longs(cols, len(df), start=seed_state), (7000, 8500))


def _run(run_job, tmp_path, source, *extra):
    out = tmp_path / "out"
    run_job(
        "feature_engineering",
        "--input",
        source,
        "--output",
        out / "features",
        "--transform-output",
        out / "transform",
        "--message-file",
        tmp_path / "msg",
        *extra,
    )
    table = pq.read_table(out / "features").to_pandas()
    return table, json.loads((out / "transform" / "preprocessing.json").read_text())


@pytest.fixture
def raw_csv(tmp_path):
    path = tmp_path / "raw.csv"
    _raw().to_csv(path, index=False)
    return path


def test_columns_stats_and_one_hot(fe, run_job, tmp_path, raw_csv):
    raw = _raw()
    feats, doc = _run(run_job, tmp_path, raw_csv)
    assert feats.columns.tolist() == COLUMNS
    assert [str(t) for t in feats.dtypes[:-2]] == ["float64"] * 11 and str(
        feats.dtypes["row_hash"]
    ) == "int64"
    split = _splits_of(fe, raw)
    train = raw[split == 0]
    assert doc["counts"] == {
        "train": int((split == 0).sum()),
        "validation": int((split == 1).sum()),
        "test": int((split == 2).sum()),
        "total": 60,
    }
    for c in NUMERIC:
        assert doc["means"][c] == pytest.approx(train[c].mean(), rel=1e-12, abs=1e-12)
        assert doc["stds"][c] == pytest.approx(train[c].std(ddof=1), rel=1e-12, abs=1e-12)
    assert doc["categories"] == {"sex": ["F", "I", "M"]}
    # Row by row (rows are unique, so rings + unscaled length identify them).
    feats = feats.assign(length_raw=feats.length * doc["stds"]["length"] + doc["means"]["length"])
    merged = raw.assign(split=np.array(["train", "validation", "test"])[split]).merge(
        feats.round({"length_raw": 8}),
        left_on=["rings", raw.length.round(8)],
        right_on=["rings", "length_raw"],
        suffixes=("", "_f"),
    )
    assert len(merged) == 60 and (merged.split == merged.split_f).all()
    onehot = merged[["sex_F", "sex_I", "sex_M"]].to_numpy()
    expected = {"F": [1, 0, 0], "I": [0, 1, 0], "M": [0, 0, 1], "X": [0, 0, 0]}
    assert onehot.tolist() == [expected[s] for s in merged.sex]
    for c in ["diameter", "shell_weight"]:
        np.testing.assert_allclose(
            merged[f"{c}_f"], (merged[c] - train[c].mean()) / train[c].std(ddof=1), atol=1e-12
        )
    assert (feats.height == 0.0).all() and doc["stds"]["height"] == 0.0  # zero deviation -> 0.0


def test_test_rows_do_not_change_train_features(fe, run_job, tmp_path):
    raw = _raw()
    split = _splits_of(fe, raw)
    changed = raw.copy()
    row = int(np.flatnonzero(split == 2)[0])
    for value in np.arange(50.0, 500.0):  # a wild value that keeps the row in test
        changed.loc[row, "whole_weight"] = value
        if _splits_of(fe, changed)[row] == 2:
            break
    assert _splits_of(fe, changed)[row] == 2
    raw.to_csv(tmp_path / "a.csv", index=False)
    changed.to_csv(tmp_path / "b.csv", index=False)
    fa, da = _run(run_job, tmp_path / "a", tmp_path / "a.csv")
    fb, db = _run(run_job, tmp_path / "b", tmp_path / "b.csv")
    assert da["means"] == db["means"] and da["stds"] == db["stds"]
    pd.testing.assert_frame_equal(
        fa[fa.split == "train"].reset_index(drop=True), fb[fb.split == "train"].reset_index(drop=True)
    )
    assert fb.whole_weight.max() > 10  # the test row is scaled with train statistics, not refitted


def test_parquet_file_and_folder_inputs_match_csv(run_job, tmp_path):
    raw = _raw(90, seed=5)
    raw.to_csv(tmp_path / "one.csv", index=False)
    raw.to_parquet(tmp_path / "one.parquet", index=False)
    (tmp_path / "folder" / "nested").mkdir(parents=True)
    raw.iloc[:40].to_csv(tmp_path / "folder" / "a.csv", index=False)
    raw.iloc[40:].to_csv(tmp_path / "folder" / "nested" / "b.csv", index=False)
    (tmp_path / "folder" / "_SUCCESS").write_text("")
    results = [
        _run(run_job, tmp_path / name, tmp_path / src)
        for name, src in [("r1", "one.csv"), ("r2", "one.parquet"), ("r3", "folder")]
    ]
    key = ["row_hash", "rings"]
    base = results[0][0].sort_values(key).reset_index(drop=True)
    for feats, doc in results[1:]:
        pd.testing.assert_frame_equal(feats.sort_values(key).reset_index(drop=True), base)
        assert doc["means"] == pytest.approx(results[0][1]["means"], rel=1e-12)


def test_missing_column_fails_with_a_clear_message(run_job, tmp_path):
    _raw().drop(columns=["rings"]).to_csv(tmp_path / "bad.csv", index=False)
    proc = run_job(
        "feature_engineering",
        "--input",
        tmp_path / "bad.csv",
        "--output",
        tmp_path / "f",
        "--transform-output",
        tmp_path / "t",
        "--message-file",
        tmp_path / "msg",
        check=False,
    )
    assert proc.returncode == 1
    message = (tmp_path / "msg").read_text()
    assert "rings" in message and message.count("\n") == 1
    assert not list((tmp_path / "f").glob("*.parquet"))  # nothing that looks complete


def test_train_moments_equal_sklearn_standard_scaler(fe):
    """The job's streamed moments (no scikit-learn import: 4 s of start-up) are StandardScaler.partial_fit's
    on the same chunks, missing values (NaN) included, with the sample sd (ddof=1) the engines share."""
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    chunks = [rng.normal(5.0, 2.0, size=(n, 3)) * [1.0, 1e-3, 1e4] for n in (1, 7, 1000, 0, 50_000)]
    chunks[2][::3, 1] = np.nan
    ours, theirs = fe.TrainMoments(3), StandardScaler()
    for X in chunks:
        ours.add(X)
        if len(X):
            theirs.partial_fit(X)
    n = np.broadcast_to(theirs.n_samples_seen_, (3,))
    np.testing.assert_array_equal(ours.n, n)
    np.testing.assert_allclose(ours.means(), theirs.mean_, rtol=1e-12)
    np.testing.assert_allclose(ours.sample_stds(), np.sqrt(theirs.var_ * n / (n - 1)), rtol=1e-12)
    # a column missing in a whole chunk: scikit-learn's variance turns NaN there; ours stays the data's
    chunks[4][:, 2] = np.nan
    ours = fe.TrainMoments(3)
    for X in chunks:
        ours.add(X)
    everything = np.concatenate(chunks)
    np.testing.assert_allclose(ours.means(), np.nanmean(everything, axis=0), rtol=1e-12)
    np.testing.assert_allclose(ours.sample_stds(), np.nanstd(everything, axis=0, ddof=1), rtol=1e-12)
    # the job's path: only the rows of split code 0, column by column (np.bincount), equals add() on them
    split = rng.integers(0, 3, size=len(everything)).astype(np.int8)
    by_code = fe.TrainMoments(3)
    for begin in range(0, len(everything), 4096):
        part = slice(begin, begin + 4096)
        by_code.add_where([everything[part, j] for j in range(3)], split[part])
    train = everything[split == 0]
    np.testing.assert_array_equal(by_code.n, (~np.isnan(train)).sum(axis=0))
    np.testing.assert_allclose(by_code.means(), np.nanmean(train, axis=0), rtol=1e-12)
    np.testing.assert_allclose(by_code.sample_stds(), np.nanstd(train, axis=0, ddof=1), rtol=1e-12)
    empty = fe.TrainMoments(2)
    empty.add(np.array([[np.nan, 4.0]]))
    assert np.isnan(empty.means()[0]) and empty.means()[1] == 4.0 and (empty.sample_stds() == 0).all()
