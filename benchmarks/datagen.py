"""Generate Abalone-shaped data of any size (resampled rows + small seeded noise).

Used by the benchmarks and tests: large inputs are generated, never committed. Same columns, same
types, numerics rounded to 4 decimals like the shipped file. Vectorised and chunked, so memory stays
bounded (one chunk) whatever the row count.

    python benchmarks/datagen.py --rows 1000000 --out /tmp/abalone_1m.csv [--seed 0] [--format parquet]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ABALONE_CSV = Path(__file__).resolve().parent.parent / "data" / "abalone.csv"
NUMERIC = [
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
]
COLUMNS = ["sex", *NUMERIC, "rings"]
CHUNK_ROWS = 1_000_000
NOISE_FRACTION = 0.02  # noise sd as a fraction of each column's sd: new rows, same distribution


def _load_source(source: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The source rows as (sex strings, numerics [n, 7], rings)."""
    table = pacsv.read_csv(source)
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"source {source}: missing columns {missing}, expected {COLUMNS}")
    sex = np.asarray(table["sex"].to_pylist(), dtype=object)
    numerics = np.column_stack([table[c].to_numpy().astype(np.float64) for c in NUMERIC])
    rings = table["rings"].to_numpy().astype(np.int64)
    return sex, numerics, rings


def _chunk(
    rng: np.random.Generator, n: int, sex: np.ndarray, numerics: np.ndarray, rings: np.ndarray
) -> pa.Table:
    idx = rng.integers(0, len(rings), size=n)
    noise = rng.standard_normal((n, len(NUMERIC))) * (numerics.std(axis=0) * NOISE_FRACTION)
    values = np.round(np.clip(numerics[idx] + noise, 0.0001, None), 4)
    arrays: list[pa.Array] = [pa.array(sex[idx], type=pa.string())]
    arrays += [pa.array(values[:, j]) for j in range(len(NUMERIC))]
    arrays.append(pa.array(rings[idx]))
    return pa.Table.from_arrays(arrays, names=COLUMNS)


def generate(n_rows: int, path: Path, seed: int = 0, fmt: str = "csv", source: Path | None = None) -> Path:
    """Write ``n_rows`` Abalone-like rows to ``path`` (CSV with header, or Parquet); return the path.

    Deterministic for a given (n_rows, seed). Written to a temporary name and renamed, so a crash
    never leaves a half-written file under ``path``.
    """
    if n_rows < 0:
        raise ValueError(f"n_rows: expected >= 0, got {n_rows}")
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt: expected 'csv' or 'parquet', got {fmt!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sex, numerics, rings = _load_source(Path(source) if source else ABALONE_CSV)
    rng = np.random.default_rng(seed)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    schema = _chunk(rng, 0, sex, numerics, rings).schema
    writer: pacsv.CSVWriter | pq.ParquetWriter
    if fmt == "csv":  # sex is one of F/I/M: no quoting needed, same look as the shipped file
        sink = open(tmp, "wb")  # noqa: SIM115 (closed below, after the writer)
        sink.write((",".join(COLUMNS) + "\n").encode())
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        writer = pacsv.CSVWriter(sink, schema, write_options=options)
    else:
        sink = None
        writer = pq.ParquetWriter(tmp, schema)
    try:
        done = 0
        while done < n_rows:
            n = min(CHUNK_ROWS, n_rows - done)
            writer.write_table(_chunk(rng, n, sex, numerics, rings))
            done += n
        writer.close()
        if sink:
            sink.close()
        os.replace(tmp, path)
    except BaseException:
        writer.close()
        if sink:
            sink.close()
        tmp.unlink(missing_ok=True)
        raise
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, required=True, help="number of rows to generate")
    parser.add_argument("--out", type=Path, required=True, help="output file (.csv or .parquet)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--format", choices=["csv", "parquet"], default=None, help="default: from --out suffix"
    )
    args = parser.parse_args(argv)
    fmt = args.format or ("parquet" if args.out.suffix == ".parquet" else "csv")
    start = time.perf_counter()
    out = generate(args.rows, args.out, seed=args.seed, fmt=fmt)
    size_mb = out.stat().st_size / 1e6
    print(
        f"wrote {args.rows:,} rows to {out} ({size_mb:,.1f} MB, {fmt}) in {time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
