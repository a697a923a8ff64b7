"""Profile job: a CSV (or a folder of CSVs) -> ``profile.md`` (Markdown tables) and ``profile.json``.

An example of ``source_dir`` + ``requirements.txt``: pandas' ``to_markdown`` needs ``tabulate`` and the
sizes are written with ``humanize``, two libraries the SageMaker scikit-learn image does not have. The
operator uploads this folder; the generated ``runproc.sh`` installs ``requirements.txt`` and runs this
file (locally: once per requirements content, into a cached environment). ``report.py`` beside it is a
module of the same folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import humanize
import pandas as pd
from report import column_profile, write_atomically


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=Path("/opt/ml/processing/input/data"))
    parser.add_argument("--output", type=Path, default=Path("/opt/ml/processing/output/profile"))
    parser.add_argument("--message-file", type=Path, default=Path("/opt/ml/output/message"))
    return parser.parse_args(argv)


def csv_files(path: Path) -> list[Path]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*.csv") if p.is_file())
    if not files:
        raise ValueError(f"--input: no CSV file at {path}")
    return files


def profile(files: list[Path]) -> tuple[dict, str]:
    frame = pd.concat((pd.read_csv(f) for f in files), ignore_index=True)
    size = sum(f.stat().st_size for f in files)
    columns = {name: column_profile(frame[name]) for name in frame.columns}
    summary = {"rows": len(frame), "columns": len(frame.columns), "bytes": size, "files": len(files)}
    table = pd.DataFrame.from_dict(columns, orient="index")
    text = (
        f"# Data profile\n\n{humanize.intcomma(len(frame))} rows, {len(frame.columns)} columns, "
        f"{humanize.naturalsize(size)} in {len(files)} file(s).\n\n{table.to_markdown()}\n"
    )
    return {"summary": summary, "columns": columns}, text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        data, text = profile(csv_files(args.input))
    except (OSError, ValueError) as exc:  # bad input: a one-line reason becomes the job's ExitMessage
        args.message_file.parent.mkdir(parents=True, exist_ok=True)
        args.message_file.write_text(str(exc)[:1000])
        print(f"profile failed: {exc}", file=sys.stderr)
        return 1
    write_atomically(args.output / "profile.json", json.dumps(data, indent=1))
    write_atomically(args.output / "profile.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
