"""Fault-injection cases: bad requests and names through ``sm-processing``, same-name races."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import traceback
from pathlib import Path
from typing import Any

from chaos_scenarios import scenario
from chaos_support import Case, Outcome
from sagemaker_processing_provider.api import client_errors
from sagemaker_processing_provider.local import cli

# -------------------------------------------------------------------------------------- bad requests


def _requests(case: Case) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(what, the field the refusal must name, request) for `sm-processing run`."""
    ok = case.request("bad-request", go=False)

    def variant(path: str, value: Any, base: dict | None = None) -> dict[str, Any]:
        request = json.loads(json.dumps(base or ok))
        target = request
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target.setdefault(key, {})
        if value is None:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
        return request

    data = case.root / "input.csv"
    data.write_text("a\n1\n")
    s3_in = {
        "InputName": "in",
        "S3Input": {
            "S3Uri": data.as_uri(),
            "LocalPath": "/opt/ml/processing/in",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
        },
    }
    with_input = variant("ProcessingInputs", [s3_in])
    out = "ProcessingOutputConfig.Outputs.0.S3Output"
    return [
        (
            "S3Input without LocalPath",
            "ProcessingInputs[0].S3Input.LocalPath",
            variant("ProcessingInputs.0.S3Input.LocalPath", None, with_input),
        ),
        ("S3Output without LocalPath", "S3Output.LocalPath", variant(f"{out}.LocalPath", None)),
        ("NUL in LocalPath", "LocalPath", variant(f"{out}.LocalPath", "/opt/ml/processing/o\0x")),
        ("NUL in Environment", "Environment", variant("Environment", {"A": "x\0y"})),
        (
            "NUL in ContainerEntrypoint",
            "ContainerEntrypoint",
            variant("AppSpecification.ContainerEntrypoint", ["python3\0"]),
        ),
        (
            "S3 key with ..",
            "S3Uri",
            variant("ProcessingInputs.0.S3Input.S3Uri", "s3://bucket/a/../b", with_input),
        ),
        (
            "InstanceCount true",
            "InstanceCount",
            variant("ProcessingResources.ClusterConfig.InstanceCount", True),
        ),
        (
            "InstanceCount '2'",
            "InstanceCount",
            variant("ProcessingResources.ClusterConfig.InstanceCount", "2"),
        ),
        (
            "nested input LocalPaths",
            "LocalPath",
            variant(
                "ProcessingInputs",
                [
                    s3_in,
                    {
                        **s3_in,
                        "InputName": "b",
                        "S3Input": {**s3_in["S3Input"], "LocalPath": "/opt/ml/processing/in/sub"},
                    },
                ],
            ),
        ),
        (
            "output LocalPath above an input",
            "LocalPath",
            variant(f"{out}.LocalPath", "/opt/ml/processing", with_input),
        ),
        (
            "output LocalPath above an input (2)",
            "LocalPath",
            variant(
                "ProcessingInputs",
                [
                    {
                        **s3_in,
                        "S3Input": {**s3_in["S3Input"], "LocalPath": "/opt/ml/processing/output/result/in"},
                    }
                ],
            ),
        ),
        (
            "unknown image",
            "AppSpecification.ImageUri",
            variant("AppSpecification.ImageUri", "123.dkr.ecr.us-east-1.amazonaws.com/mine:1"),
        ),
        (
            "file:// input that does not exist",
            "S3Uri",
            variant("ProcessingInputs.0.S3Input.S3Uri", (case.root / "missing.csv").as_uri(), with_input),
        ),
        (
            "input from the job store",
            "S3Uri",
            variant("ProcessingInputs.0.S3Input.S3Uri", (case.backend.home / "jobs").as_uri(), with_input),
        ),
        ("relative LocalPath", "LocalPath", variant(f"{out}.LocalPath", "processing/o")),
        ("relative S3Uri", "S3Uri", variant(f"{out}.S3Uri", "relative/dir")),
        ("unknown member", "Bogus", variant("Bogus", 1)),
        ("name with ../", "ProcessingJobName", variant("ProcessingJobName", "../x")),
        ("request is not an object", "JSON object", None),
    ]


def _cli(home: Path, *args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(["--home", str(home), *args])
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
        except Exception:  # what the command line would show: a traceback, exit 1
            err.write(f"Traceback (most recent call last):\n{traceback.format_exc()}")
            code = 1
    return code, err.getvalue()


@scenario("bad requests and names, through sm-processing", "11, 14, 15, 16, 18, 19")
def bad_requests(root: Path) -> Outcome:
    case = Case(root)
    (case.backend.home / "jobs").mkdir(parents=True, exist_ok=True)
    outcome = Outcome()
    tries: list[tuple[str, str, list[str]]] = []
    for i, (what, field, request) in enumerate(_requests(case)):
        path = root / f"request-{i}.json"
        if request is not None and request["ProcessingJobName"] == "bad-request":
            request["ProcessingJobName"] = f"bad-request-{i}"  # each judged alone, never "in use"
        path.write_text(json.dumps(request) if request is not None else "[1, 2]")
        tries.append((what, field, ["run", str(path)]))
    for verb in ("describe", "logs", "stop"):
        for name in ("../../other-store/jobs/victim", "a/b", "..", "x\\y"):
            tries.append((f"{verb} {name}", "ProcessingJobName", [verb, name]))
    dup = case.create("dup", go=False, files=1)
    path = root / "DUP.json"
    path.write_text(json.dumps(case.request("DUP", go=False)))
    tries.append(("DUP next to dup", "already exists", ["run", str(path)]))
    for what, field, args in tries:
        code, err = _cli(case.backend.home, *args)
        lines = err.strip().splitlines()
        clean = code == 2 and len(lines) == 1 and field.lower() in err.lower() and "Traceback" not in err
        outcome.check(clean, f"{what}: exit {code}, stderr {err.strip()[:200]!r}")
    outcome.check(set(case.backend.store.names()) == {dup}, f"jobs created: {case.backend.store.names()}")
    case.finish(dup)
    return outcome


@scenario("6 creates of one name in different cases at once", "15")
def same_name_race(root: Path) -> Outcome:
    case = Case(root)
    variants = ["race", "RACE", "Race", "rAce", "raCe", "racE"]
    barrier = threading.Barrier(len(variants))
    results: dict[str, str] = {}

    def create(name: str) -> None:
        request = case.request(name, go=False, files=1)
        barrier.wait()
        try:
            type(case.backend)(case.backend.home).create_processing_job(**request)
            results[name] = "created"
        except client_errors.ResourceInUse:
            results[name] = "in use"

    threads = [threading.Thread(target=create, args=(v,)) for v in variants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcome = Outcome()
    created = [n for n, r in results.items() if r == "created"]
    outcome.check(len(created) == 1 and len(results) == len(variants), f"results: {results}")
    outcome.check(case.backend.store.names() == created, f"job folders: {case.backend.store.names()}")
    for name in created:
        case.finish(name)
    return outcome
