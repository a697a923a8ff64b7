"""Run every fault-injection case N times and print the tried/held table that is in the README.

    .venv/bin/python tests/chaos/run_chaos.py [--tries 3] [--only WORD]

Each try runs in a fresh temporary folder (a job store, a user's destination holding the user's
files) and injects its fault into real jobs; it holds when the judge finds no problem (the status
agrees with the destination, no scratch left, processes gone...) and no byte of the user's files is
lost. The first problem of a try that did not hold goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chaos_escapes  # noqa: E402,F401 (registers its cases)
import chaos_requests  # noqa: E402,F401 (registers its cases)
from chaos_scenarios import SCENARIOS, Scenario  # noqa: E402


def run(case: Scenario, tries: int) -> tuple[int, int, int]:
    held = lost = 0
    for attempt in range(tries):
        with tempfile.TemporaryDirectory(prefix="sm-chaos-") as folder:
            try:
                outcome = case.run(Path(folder))
            except Exception:  # a case that crashes did not hold
                print(f"{case.name} #{attempt + 1}: {traceback.format_exc(limit=3)}", file=sys.stderr)
                continue
        lost += outcome.lost
        if outcome.held:
            held += 1
        else:
            print(
                f"{case.name} #{attempt + 1}: {outcome.problems[:2]} ({outcome.lost} bytes lost)",
                file=sys.stderr,
            )
    return tries, held, lost


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--only", help="run the cases whose name contains this word")
    args = parser.parse_args()
    cases = [c for c in SCENARIOS if not args.only or args.only in c.name]
    print("| case | items | tried | held | user bytes lost |")
    print("|---|---|---|---|---|")
    total = [0, 0, 0]
    started = time.monotonic()
    for case in cases:
        if case.root_only and os.geteuid() != 0:
            print(f"| {case.name} | {case.items} | - | - | (needs root) |", flush=True)
            continue
        tried, held, lost = run(case, args.tries)
        total = [total[0] + tried, total[1] + held, total[2] + lost]
        print(f"| {case.name} | {case.items} | {tried} | {held} | {lost} |", flush=True)
    print(f"| **all {len(cases)} cases** | 1-19 | {total[0]} | {total[1]} | {total[2]} |")
    print(f"\n{time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0 if total[0] == total[1] and total[2] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
