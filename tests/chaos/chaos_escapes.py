"""Fault-injection cases: jobs trying to escape, a full or broken store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from chaos_scenarios import scenario
from chaos_support import Case, Outcome, judge, make_request, produced, unique, wait_until
from sagemaker_processing_provider.api import client_errors

# ------------------------------------------------------------------------------------------- escapes

SPY = """
import glob, json, os, sys, time
store, me, flags, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
open(os.path.join(flags, me), "w").close()
deadline = time.time() + 60
while len(os.listdir(flags)) < count and time.time() < deadline:  # every job runs at once
    time.sleep(0.05)
jobs = os.path.join(store, "jobs")
seen = {
    "jobs": sorted(os.listdir(jobs)) if os.path.isdir(jobs) else [],
    "others": [p for p in glob.glob(jobs + "/*/**", recursive=True) if f"/jobs/{me}/" not in p + "/"],
    "mine": [f for f in ("state.json", "request.json", "output.log", "runner.pid")
             if os.path.exists(os.path.join(jobs, me, f))],
    "env": sorted(k for k in os.environ if k.startswith(("SM_PROCESSING", "AIRFLOW"))),
}
open("/opt/ml/output/message", "w").write(json.dumps(seen))
"""


@scenario("3 concurrent jobs look for the store and each other", "5")
def store_invisible(root: Path) -> Outcome:
    case = Case(root)
    case.producer.write_text(SPY)
    flags = root / "flags"
    flags.mkdir()
    names = [unique("spy") for _ in range(3)]
    for name in names:
        request = make_request(name, case.producer)
        args = [str(case.backend.home), name, str(flags), "3"]
        request["AppSpecification"]["ContainerArguments"] = args
        case.backend.create_processing_job(**request)
    outcome = Outcome()
    for name in names:
        job = case.finish(name)
        seen = json.loads(job.get("ExitMessage") or "{}")
        outcome.check(job["ProcessingJobStatus"] == "Completed", f"{name}: {job.get('FailureReason')}")
        outcome.check(seen.get("jobs") == [name], f"{name} lists the store's jobs: {seen.get('jobs')}")
        outcome.check(not seen.get("others"), f"{name} sees other jobs' files: {seen.get('others', [])[:3]}")
        outcome.check(not seen.get("mine"), f"{name} sees its own store files: {seen.get('mine')}")
        outcome.check(not seen.get("env"), f"{name} has the engine's variables: {seen.get('env')}")
    return outcome


FORGER = """
import json, sys
path = sys.argv[1]
try:
    state = json.load(open(path))
    state["ProcessingJobStatus"] = "Completed"
    json.dump(state, open(path, "w"))
    print("forged")
except OSError as exc:
    print("could not forge:", exc)
raise SystemExit(7)
"""


@scenario("a job writes Completed into its own state.json and exits 7", "6")
def forged_status(root: Path) -> Outcome:
    case = Case(root)
    case.producer.write_text(FORGER)
    name = unique("forger")
    request = make_request(name, case.producer)
    request["AppSpecification"]["ContainerArguments"] = [
        str(case.backend.home / "jobs" / name / "state.json")
    ]
    case.backend.create_processing_job(**request)
    job = case.finish(name)
    outcome = Outcome()
    outcome.check(job["ProcessingJobStatus"] == "Failed", f"status {job['ProcessingJobStatus']}")
    outcome.check("exit code: 7" in (job.get("FailureReason") or ""), f"reason: {job.get('FailureReason')}")
    return outcome


def _refused(case: Case, request: dict[str, Any], field: str) -> list[str]:
    """Problems if the request is not refused before anything exists, naming ``field``."""
    before = set(case.backend.store.names())
    try:
        case.backend.create_processing_job(**request)
    except client_errors.ValidationException as exc:
        if field not in str(exc):
            return [f"refused without naming {field}: {exc}"]
    else:
        return [f"accepted a request with {field} = {json.dumps(request)[:160]}"]
    after = set(case.backend.store.names())
    return [f"a job was created: {after - before}"] if after != before else []


@scenario("outputs into another job's folder, the store, /etc, ~/.ssh", "7, 8")
def outputs_outside(root: Path) -> Outcome:
    case = Case(root)
    victim = case.create(unique("victim"), go=False, files=1)
    job = case.finish(victim)
    state_before = (case.job_dir(victim) / "state.json").read_bytes()
    outcome = Outcome()
    for dest in (
        case.job_dir(victim),
        case.backend.home / "jobs",
        Path("/etc/sm-processing-test"),
        Path("/root/.ssh"),
    ):
        request = case.request(unique("escape"), go=False, files=0)  # accepted by mistake, it writes nothing
        request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] = dest.as_uri()
        outcome.problems += _refused(case, request, "S3Output.S3Uri")
    outcome.check(not Path("/etc/sm-processing-test").exists(), "something was written into /etc")
    outcome.check(
        (case.job_dir(victim) / "state.json").read_bytes() == state_before, "the victim's state changed"
    )
    outcome.check(job["ProcessingJobStatus"] == "Completed", f"victim {job['ProcessingJobStatus']}")
    return outcome


@scenario("a destination turned into a symlink to another job's folder before publishing", "7")
def destination_swapped(root: Path) -> Outcome:
    case = Case(root)
    victim = case.create(unique("victim"), go=False, files=1)
    case.finish(victim)
    state_before = (case.job_dir(victim) / "state.json").read_bytes()
    case.dest = root / "data" / "link"
    case.before = {}
    name = case.create(unique("swap"))
    case.dest.parent.mkdir(parents=True, exist_ok=True)
    case.dest.symlink_to(case.job_dir(victim))
    case.go_file(name).touch()
    job = case.finish(name)
    outcome = Outcome()
    outcome.check(job["ProcessingJobStatus"] == "Failed", f"status {job['ProcessingJobStatus']}")
    outcome.check("job store" in (job.get("FailureReason") or ""), f"reason: {job.get('FailureReason')}")
    outcome.check(
        (case.job_dir(victim) / "state.json").read_bytes() == state_before, "the victim's state changed"
    )
    outcome.check(not (case.job_dir(victim) / "part-0000.csv").exists(), "published into the victim's folder")
    return outcome


LINKER = """
import os, shutil, sys
out = "/opt/ml/processing/output/result"
shutil.rmtree(out, ignore_errors=True)
os.symlink(sys.argv[1], out)
"""


@scenario("a job replaces its output folder by a symlink to a host folder", "9")
def symlinked_output(root: Path) -> Outcome:
    case = Case(root)
    secret = root / "secret"
    secret.mkdir()
    (secret / "id_rsa").write_text("host secret")
    name = case.start_script(LINKER, [str(secret)], "linker")
    job = case.finish(name)
    outcome = judge(case, job, {}, expect=("Completed",))
    lines = "\n".join(case.backend.get_log_events(ProcessingJobName=name)["events"])
    outcome.check("not a real folder" in lines, "no log line about the symlinked output folder")
    return outcome


@scenario("Environment sets PATH (no system folders) and LD_PRELOAD", "17")
def hostile_environment(root: Path) -> Outcome:
    case = Case(root)
    name = unique("envjob")
    request = case.request(
        name, go=False, Environment={"PATH": str(Path(sys.executable).parent), "LD_PRELOAD": "/nope.so"}
    )
    case.backend.create_processing_job(**request)
    return judge(case, case.finish(name), produced(30), expect=("Completed",))


# --------------------------------------------------------------------------------------------- store

FILLER = """
import os
n = 0
try:
    with open("/opt/ml/processing/output/result/big", "wb") as fh:
        while True:
            fh.write(b"x" * 65536)
            fh.flush()
            n += 1
except OSError as exc:
    print("disk full after", n, "blocks:", exc)
for i in range(200):
    print("a log line the full disk cannot take", i)
raise SystemExit(3)
"""


@scenario("job store on a full disk (2 MiB tmpfs)", "4", root_only=True)
def full_store(root: Path) -> Outcome:
    store = root / "store"
    store.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "sm-chaos", str(store)], check=True)
    try:
        return _full_store(root)
    finally:
        subprocess.run(["umount", "-l", str(store)], check=False)


def _full_store(root: Path) -> Outcome:
    case = Case(root)
    done = case.finish(case.create(unique("done"), go=False, files=1))
    waiting = case.create(unique("waiting"), files=1)  # runs until the disk is full
    runner = case.runner_pid(waiting)
    filler = unique("filler")
    request = case.request(filler, go=False)
    (root / "filler.py").write_text(FILLER)
    request["AppSpecification"]["ContainerEntrypoint"][1] = str(root / "filler.py")
    case.backend.create_processing_job(**request)
    outcome = Outcome()
    job = case.finish(filler)
    outcome.check(job["ProcessingJobStatus"] == "Failed", f"filler {job['ProcessingJobStatus']}")
    outcome.check(
        "exit code: 3" in (job.get("FailureReason") or ""), f"filler's reason: {job.get('FailureReason')}"
    )
    record = case.record(waiting)
    for pid in (record["watchdog"]["pid"], runner):
        subprocess.run(["kill", "-9", str(pid)], check=False)
    wait_until(lambda: not Path(f"/proc/{runner}").exists(), 10)
    listed = {
        s["ProcessingJobName"]: s
        for s in case.backend.list_processing_jobs(MaxResults=100)["ProcessingJobSummaries"]
    }
    outcome.check(set(listed) == {done["ProcessingJobName"], waiting, filler}, f"list: {sorted(listed)}")
    described = case.backend.describe_processing_job(ProcessingJobName=waiting)
    outcome.check(
        described["ProcessingJobStatus"] == "Failed", f"waiting job {described['ProcessingJobStatus']}"
    )
    outcome.check(
        "runner" in (described.get("FailureReason") or ""), f"reason: {described.get('FailureReason')}"
    )
    again = case.backend.describe_processing_job(ProcessingJobName=done["ProcessingJobName"])
    outcome.check(again["ProcessingJobStatus"] == "Completed", "the completed job changed")
    state = json.loads((case.job_dir(waiting) / "state.json").read_text())
    outcome.check(
        state["ProcessingJobStatus"] == "Failed", "the final state was not recorded on the full disk"
    )
    return outcome


@scenario("one job's state.json is corrupt", "4")
def unreadable_job(root: Path) -> Outcome:
    case = Case(root)
    names = [case.create(unique("job"), go=False, files=1) for _ in range(3)]
    for name in names:
        case.finish(name)
    (case.job_dir(names[1]) / "state.json").write_text('{"ProcessingJobStatus": ')
    outcome = Outcome()
    listed = {
        s["ProcessingJobName"]: s for s in case.backend.list_processing_jobs()["ProcessingJobSummaries"]
    }
    outcome.check(set(listed) == set(names), f"list: {sorted(listed)}")
    broken = listed.get(names[1], {})
    outcome.check("cannot read" in broken.get("FailureReason", ""), f"the broken job is listed as {broken}")
    for name in (names[0], names[2]):
        outcome.check(
            case.backend.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"]
            == "Completed",
            name,
        )
    try:
        case.backend.describe_processing_job(ProcessingJobName=names[1])
        outcome.problems.append("the broken job was described as if nothing happened")
    except client_errors.InternalFailure as exc:
        outcome.check(names[1] in str(exc), f"error: {exc}")
    return outcome
