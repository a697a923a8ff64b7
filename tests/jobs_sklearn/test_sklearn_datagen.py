"""benchmarks/datagen.py: same schema as the shipped data, seeded, importable by path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

DATAGEN = Path(__file__).resolve().parents[2] / "benchmarks" / "datagen.py"


def _datagen():
    spec = importlib.util.spec_from_file_location("datagen_under_test", DATAGEN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generate_csv_and_parquet(tmp_path):
    datagen = _datagen()
    a = pd.read_csv(datagen.generate(2_500, tmp_path / "a.csv", seed=3))
    b = pd.read_parquet(datagen.generate(2_500, tmp_path / "b.parquet", seed=3, fmt="parquet"))
    c = pd.read_csv(datagen.generate(2_500, tmp_path / "c.csv", seed=4))
    assert a.columns.tolist() == ["sex", *datagen.NUMERIC, "rings"] and len(a) == 2_500
    pd.testing.assert_frame_equal(a, b, check_dtype=False)  # same seed, same rows, either format
    assert not a.equals(c)
    assert set(a.sex) == {"F", "I", "M"} and a.rings.between(1, 29).all()
    values = a[datagen.NUMERIC].to_numpy()
    assert (values > 0).all() and np.allclose(values, np.round(values, 4), rtol=0, atol=1e-12)
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
