"""Split job (scikit-learn container): the features table -> train / validation / test folders.

The split itself was decided by the feature engineering job (the `split` column, from the contract's
row hash); this job routes rows. Parquet output keeps every column (validation needs `row_hash`).
A Parquet input file whose `split` column statistics show one value in every row group (what our
feature engineering writes) is copied byte for byte, no decode; any other file (e.g. Spark's part
files) is streamed and filtered. `--format csv` writes what SageMaker's built-in algorithms read:
headerless, the label `rings` first, no `split`/`row_hash`.
Self-contained on purpose: SageMaker uploads this file alone as the job's code.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

log = logging.getLogger("split")

SPLITS = ["train", "validation", "test"]
NUMERIC = ["length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight"]
CSV_COLUMNS = ["rings", "sex_F", "sex_I", "sex_M", *NUMERIC]  # label first, as built-in algorithms expect
FEATURE_COLUMNS = [*CSV_COLUMNS, "split", "row_hash"]
BATCH_ROWS = 262_144


def list_parquet(path: Path) -> list[Path]:
    """Parquet files under ``path`` (a file or a folder, recursively), skipping hidden/_ files."""
    if not path.exists():
        raise FileNotFoundError(
            f"--input: {path} does not exist (expected the features Parquet file or folder)"
        )
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*.parquet") if p.is_file())
    files = [p for p in files if not p.name.startswith((".", "_"))]
    if not files:
        raise ValueError(f"--input: no .parquet files under {path}")
    return files


def single_split(pfile: pq.ParquetFile) -> str | None:
    """The one split value of a file, from row-group statistics alone; None if mixed or unknown."""
    meta = pfile.metadata
    index = pfile.schema_arrow.get_field_index("split")
    values = set()
    for rg in range(meta.num_row_groups):
        stats = meta.row_group(rg).column(index).statistics
        if stats is None or not stats.has_min_max or stats.null_count != 0 or stats.min != stats.max:
            return None
        values.add(stats.min if isinstance(stats.min, str) else bytes(stats.min).decode())
    return values.pop() if len(values) == 1 and next(iter(values), None) in SPLITS else None


class SplitWriter:
    """Writes a split's part files under temporary names; ``commit`` renames them all at the end."""

    def __init__(self, name: str, out_dir: Path, fmt: str, compression: str) -> None:
        self.name, self.out_dir, self.fmt, self.compression = name, out_dir, fmt, compression
        self.pending: list[tuple[Path, Path]] = []
        self.writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
        self.rows = 0

    def _new_part(self) -> Path:
        final = self.out_dir / f"part-{len(self.pending):05d}.{'csv' if self.fmt == 'csv' else 'parquet'}"
        tmp = self.out_dir / f".{final.name}.tmp-{os.getpid()}"
        self.pending.append((tmp, final))
        return tmp

    def copy(self, source: Path, rows: int) -> None:
        shutil.copyfile(source, self._new_part())
        self.rows += rows

    def write(self, batch: pa.RecordBatch) -> None:
        if self.fmt == "csv":
            batch = pa.RecordBatch.from_arrays([batch.column(c) for c in CSV_COLUMNS], names=CSV_COLUMNS)
        if self.writer is None:
            tmp = self._new_part()
            if self.fmt == "csv":
                options = pacsv.WriteOptions(include_header=False)  # all numeric: nothing to quote
                self.writer = pacsv.CSVWriter(str(tmp), batch.schema, write_options=options)
            else:
                self.writer = pq.ParquetWriter(str(tmp), batch.schema, compression=self.compression)
        self.writer.write_batch(batch)
        self.rows += batch.num_rows

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def commit(self) -> list[Path]:
        self.close()
        for tmp, final in self.pending:
            os.replace(tmp, final)
        return [final for _, final in self.pending]

    def abort(self) -> None:
        self.close()
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)


def route_file(path: Path, writers: dict[str, SplitWriter], fmt: str) -> None:
    pfile = pq.ParquetFile(path)
    missing = [c for c in FEATURE_COLUMNS if c not in pfile.schema_arrow.names]
    if missing:
        raise ValueError(
            f"input {path}: missing column(s) {missing}; expected the features table {FEATURE_COLUMNS}"
        )
    rows = pfile.metadata.num_rows
    only = single_split(pfile) if rows else None
    if fmt == "parquet" and only is not None:
        log.info("%s: %d rows, all %s: copied as is", path, rows, only)
        writers[only].copy(path, rows)
        return
    log.info("%s: %d rows, streaming", path, rows)
    for batch in pfile.iter_batches(batch_size=BATCH_ROWS, columns=FEATURE_COLUMNS):
        split = batch.column("split")
        unknown = pc.sum(pc.invert(pc.is_in(split, value_set=pa.array(SPLITS)))).as_py() or 0
        if unknown:
            raise ValueError(f"input {path}: {unknown} row(s) with a split outside {SPLITS} (or null)")
        for name, writer in writers.items():
            part = batch.filter(pc.equal(split, name))
            if part.num_rows:
                writer.write(part)


def ensure_not_empty(writers: dict[str, SplitWriter], schema: pa.Schema) -> None:
    """A split with no rows still gets one (empty) file, so its readers see the schema."""
    for writer in writers.values():
        if not writer.pending:
            writer.write(pa.RecordBatch.from_pylist([], schema=schema))
            log.warning("split %s is empty: wrote an empty file with the schema", writer.name)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Route the features table into train/validation/test outputs.")
    p.add_argument("--input", type=Path, default=Path("/opt/ml/processing/input/features"))
    p.add_argument("--output", type=Path, default=Path("/opt/ml/processing/output"), help="base of <split>/")
    for name in SPLITS:
        p.add_argument(f"--{name}-output", type=Path, default=None, help=f"default: <--output>/{name}")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    p.add_argument("--compression", default="snappy", help="Parquet codec when rows are re-encoded")
    p.add_argument("--message-file", type=Path, default=Path("/opt/ml/output/message"))
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, int]:
    start = time.perf_counter()
    files = list_parquet(args.input)
    log.info("input: %d Parquet file(s) under %s; output format %s", len(files), args.input, args.format)
    writers = {}
    for name in SPLITS:
        out_dir = getattr(args, f"{name}_output") or args.output / name
        out_dir.mkdir(parents=True, exist_ok=True)
        writers[name] = SplitWriter(name, out_dir, args.format, args.compression)
    try:
        for path in files:
            route_file(path, writers, args.format)
        schema = pq.read_schema(files[0])
        ensure_not_empty(
            writers, schema if args.format == "parquet" else pa.schema([schema.field(c) for c in CSV_COLUMNS])
        )
        for writer in writers.values():
            for final in writer.commit():
                log.info("wrote %s (%.1f MB)", final, final.stat().st_size / 1e6)
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    counts = {name: w.rows for name, w in writers.items()}
    total = sum(counts.values()) or 1
    for name, n in counts.items():
        log.info("%-10s %12d rows (%.2f%%)", name, n, 100.0 * n / total)
    log.info("split done in %.2f s", time.perf_counter() - start)
    return counts


def write_message(path: Path, text: str) -> None:
    """SageMaker turns /opt/ml/output/message into the job's ExitMessage; never fail because of it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("\n", " ")[:1000] + "\n")
    except OSError as exc:
        log.warning("could not write the message file %s: %s", path, exc)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    args = parse_args(argv)
    try:
        run(args)
    except Exception as exc:
        write_message(args.message_file, f"split failed: {type(exc).__name__}: {exc}")
        log.exception("split failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
