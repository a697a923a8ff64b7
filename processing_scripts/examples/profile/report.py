"""Helpers of the profile job (a module of its ``source_dir``: uploaded and importable with it)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


def column_profile(values: pd.Series) -> dict:
    """Type, missing values and either numeric statistics or the most frequent values of one column."""
    found = {
        "dtype": str(values.dtype),
        "missing": int(values.isna().sum()),
        "distinct": int(values.nunique()),
    }
    if pd.api.types.is_numeric_dtype(values):
        stats = values.describe()
        found.update({k: round(float(stats[k]), 4) for k in ("mean", "std", "min", "max")})
    else:
        found["top"] = ", ".join(f"{k} ({v})" for k, v in values.value_counts().head(3).items())
    return found


def write_atomically(path: Path, text: str) -> None:
    """Write under a hidden name, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
