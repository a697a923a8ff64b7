"""Cross-engine parity: scikit-learn, PySpark and Scala give the same rows per split and the same features.

All three run their feature engineering + split jobs (as SageMaker would: a Python process, spark-submit of
the .py, spark-submit of the jar) on abalone plus edge rows (unknown / missing sex, missing numerics,
a duplicate row, values at the quantiser's rounding edge), and the outputs are compared.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

ENGINES = ("sklearn", "pyspark", "scala")
SPLITS = ("train", "validation", "test")
FEATURES = ["sex_F", "sex_I", "sex_M", "length", "diameter", "height", "whole_weight", "shucked_weight",
            "viscera_weight", "shell_weight"]  # fmt: skip
COLUMNS = ["rings", *FEATURES, "split", "row_hash"]


def read_split(work: Path, split: str) -> pd.DataFrame:
    """One split's rows in a canonical order: by row_hash, then by every value (duplicates share a hash)."""
    df = pd.read_parquet(work / "out" / split)
    assert list(df.columns) == COLUMNS, f"{work.name}/{split}: columns {list(df.columns)}"
    assert set(df["split"]) <= {split}
    return df.sort_values(["row_hash", "rings", *FEATURES], na_position="last", kind="stable").reset_index(
        drop=True
    )


@pytest.fixture(scope="module")
def tables(edge_runs: dict[str, Path]) -> dict[str, dict[str, pd.DataFrame]]:
    return {e: {s: read_split(edge_runs[e], s) for s in SPLITS} for e in ENGINES}


@pytest.mark.parametrize("engine", ["pyspark", "scala"])
@pytest.mark.parametrize("split", SPLITS)
def test_same_rows_per_split(tables, engine: str, split: str) -> None:
    reference, other = tables["sklearn"][split], tables[engine][split]
    assert len(reference) > 0
    # multisets: an identical row appears as many times, under the same hash, in every engine
    assert reference["row_hash"].tolist() == other["row_hash"].tolist()


@pytest.mark.parametrize("engine", ["pyspark", "scala"])
@pytest.mark.parametrize("split", SPLITS)
def test_same_features(tables, engine: str, split: str) -> None:
    reference, other = tables["sklearn"][split], tables[engine][split]
    assert other.dtypes.astype(str).tolist() == reference.dtypes.astype(str).tolist()
    for col in ["rings", *FEATURES]:
        a, b = reference[col].to_numpy(dtype=float), other[col].to_numpy(dtype=float)
        np.testing.assert_array_equal(
            np.isnan(a), np.isnan(b), err_msg=f"{split}.{col}: missing values differ"
        )
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6, equal_nan=True, err_msg=f"{engine} {split}.{col}")


def test_same_fitted_transform(edge_runs: dict[str, Path]) -> None:
    docs = {e: json.loads((edge_runs[e] / "transform" / "preprocessing.json").read_text()) for e in ENGINES}
    ref = docs["sklearn"]
    for engine in ("pyspark", "scala"):
        doc = docs[engine]
        assert doc["counts"] == ref["counts"]
        assert doc["categories"] == ref["categories"] == {"sex": ["F", "I", "M"]}
        assert doc["fit_rows"] == ref["fit_rows"]
        for key in ("means", "stds"):
            np.testing.assert_allclose([doc[key][c] for c in FEATURES[3:]], [ref[key][c] for c in FEATURES[3:]],
                                       rtol=1e-9, atol=0, err_msg=f"{engine} {key}")  # fmt: skip


def test_edge_rows_are_exercised(tables, edge_data: Path) -> None:
    """The data really covers the cases: a train row with a missing numeric, unknown sex -> zeros, a dup."""
    train = tables["sklearn"]["train"]
    assert train[FEATURES[3:]].isna().any(axis=1).any(), "no train row with a missing numeric: edit EDGE_ROWS"
    everything = pd.concat(tables["sklearn"].values())
    unknown = everything[FEATURES[:3]].sum(axis=1) == 0
    assert unknown.sum() == 3  # "X", "m" and the missing sex
    assert everything["row_hash"].duplicated().sum() >= 1  # the first abalone row, repeated as an edge row
    assert len(everything) == len(edge_data.read_text().splitlines()) - 1 == 4177 + 12
