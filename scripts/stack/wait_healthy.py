"""Waits until every service of the compose project is ready, or says precisely which is not.

Ready: a service with a healthcheck is ``healthy``; one without is ``running``; a one-shot service
(``restart: "no"``, e.g. airflow-init) has exited 0. Fails fast when a one-shot exits non-zero or a
service keeps restarting, and then prints the last log lines of every service that is not ready.
Prints the time from ``--since`` (epoch seconds, e.g. when ``up`` started) to all ready.

    python scripts/stack/wait_healthy.py [--timeout 300] [--since EPOCH] [--report-only]

The compose command is ``$STACK_COMPOSE`` (default ``docker-compose``); the project is whatever it
resolves (``COMPOSE_PROJECT_NAME``, ``.env``). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass

MAX_RESTARTS = 2
LOG_LINES = 80


def compose_cmd() -> list[str]:
    return shlex.split(os.environ.get("STACK_COMPOSE", "docker-compose"))


@dataclass(frozen=True)
class Service:
    name: str
    status: str  # running | exited | restarting | created ...
    health: str  # healthy | unhealthy | starting | "" (no healthcheck)
    exit_code: int
    restarts: int
    one_shot: bool

    @property
    def ready(self) -> bool:
        if self.one_shot:
            return self.status == "exited" and self.exit_code == 0
        return self.status == "running" and self.health in ("healthy", "")

    @property
    def broken(self) -> str | None:
        if self.one_shot and self.status == "exited" and self.exit_code != 0:
            return f"exited with code {self.exit_code}"
        if not self.one_shot and self.restarts > MAX_RESTARTS:
            return f"restarted {self.restarts} times"
        if self.health == "unhealthy":
            return "unhealthy"
        return None

    def describe(self) -> str:
        state = self.status + (f"/{self.health}" if self.health else "")
        return f"{self.name}: {state}" + (f", exit {self.exit_code}" if self.status == "exited" else "")


def services() -> list[Service]:
    ids = subprocess.run(
        [*compose_cmd(), "ps", "-q"], capture_output=True, text=True, check=True
    ).stdout.split()
    if not ids:
        return []
    found = json.loads(
        subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout
    )
    result = []
    for c in found:
        state = c["State"]
        result.append(
            Service(
                name=c["Config"]["Labels"].get("com.docker.compose.service", c["Name"]),
                status=state["Status"],
                health=(state.get("Health") or {}).get("Status", ""),
                exit_code=state.get("ExitCode", 0),
                restarts=c.get("RestartCount", 0),
                one_shot=c["HostConfig"]["RestartPolicy"]["Name"] in ("", "no"),
            )
        )
    return sorted(result, key=lambda s: s.name)


def report(not_ready: list[Service]) -> None:
    """The state of every service and the last log lines of those that are not ready."""
    for svc in services():
        print(f"  {svc.describe()}", file=sys.stderr)
    for svc in not_ready:
        print(f"\n----- last {LOG_LINES} log lines of {svc.name} ({svc.describe()}) -----", file=sys.stderr)
        subprocess.run([*compose_cmd(), "logs", "--no-color", f"--tail={LOG_LINES}", svc.name], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--since", type=float, default=None, help="epoch seconds the clock starts at")
    parser.add_argument(
        "--report-only", action="store_true", help="print states and logs of non-ready services"
    )
    args = parser.parse_args()
    if args.report_only:
        report([s for s in services() if not s.ready])
        return 0
    start = args.since or time.time()
    deadline = time.time() + args.timeout
    while True:
        current = services()
        not_ready = [s for s in current if not s.ready]
        if current and not not_ready:
            print(f"stack: all {len(current)} services ready, {time.time() - start:.1f} s after start")
            return 0
        broken = [s for s in current if s.broken]
        if broken or time.time() > deadline:
            why = ", ".join(f"{s.name} {s.broken}" for s in broken) or f"timeout after {args.timeout:.0f} s"
            print(f"stack: NOT ready ({why})", file=sys.stderr)
            report(not_ready)
            return 1
        time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
