"""The fault-injection cases (issue "the local backend under faults", items 1-19), one function each.

Each case takes a fresh folder and returns an :class:`Outcome` (problems found, user bytes lost).
``test_chaos.py`` runs every case once; ``run_chaos.py`` runs them N times and prints the table.
"""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chaos_support import (
    FAILPOINT,
    TERMINAL,
    Case,
    Outcome,
    env,
    judge,
    kill,
    leftovers,
    make_request,
    proc_state,
    processes_with,
    produced,
    python_processes,
    tree,
    unique,
    wait_until,
)
from sagemaker_processing_provider.api import client_errors


@dataclass(frozen=True)
class Scenario:
    name: str
    items: str  # the numbered items this case covers
    run: Callable[[Path], Outcome]
    root_only: bool = False  # mounts a tmpfs


SCENARIOS: list[Scenario] = []


def scenario(name: str, items: str, root_only: bool = False, **kwargs: object) -> Callable:
    def register(fn: Callable[..., Outcome]) -> Callable[..., Outcome]:
        run = functools.partial(fn, **kwargs) if kwargs else fn
        SCENARIOS.append(Scenario(name, items, run, root_only))
        return fn

    return register


# ------------------------------------------------------------------------------- kills while publishing


def _kill_at(root: Path, point: str, expect: str, fresh: bool = False, watchdog_too: bool = False) -> Outcome:
    """The runner SIGKILLs itself at ``point``; its watchdog (or, if killed too, the next describe) settles."""
    case = Case(root, user_files=0 if fresh else 20)
    name = case.create(unique("kill"), failpoint=point, inputs=point.startswith("staging"))
    case.runner_pid(name)
    if watchdog_too:
        watchdog = case.record(name)["watchdog"]["pid"]
        kill(watchdog)
        wait_until(lambda: proc_state(watchdog) in (None, "Z"), 10)
    case.go_file(name).touch()
    outcome = Outcome()
    if not watchdog_too:  # nobody describes: the watchdog alone must settle it, within seconds
        seen = case.wait_file_terminal(name, 15)
        outcome.check(seen in TERMINAL, f"state.json still {seen} 15 s after the runner died")
    job = case.finish(name)
    result = judge(case, job, produced(30) if expect == "Completed" else {}, expect=(expect,))
    result.problems[:0] = outcome.problems
    if expect == "Failed":
        result.check("runner" in (job.get("FailureReason") or ""), f"reason: {job.get('FailureReason')}")
    return result


for _point, _expect, _extra in (
    ("staging", "Failed", {}),
    ("running", "Failed", {}),
    ("running", "Failed", {"watchdog_too": True}),
    ("publish-copy:5", "Failed", {}),
    ("publish-planned", "Completed", {}),
    ("publish-move:1", "Completed", {}),
    ("publish-move:15", "Completed", {}),
    ("publish-move:15", "Completed", {"watchdog_too": True}),
    ("publish-whole", "Completed", {"fresh": True}),
    ("publish-decided", "Completed", {}),
    ("finished", "Completed", {}),
):
    _label = f"runner killed at {_point}" + (" (and its watchdog)" if _extra.get("watchdog_too") else "")
    _label += " (new destination)" if _extra.get("fresh") else ""
    scenario(_label, "1, 12", point=_point, expect=_expect, **_extra)(_kill_at)


@scenario("runner killed from outside mid-publish (400 files)", "1")
def kill_from_outside(root: Path) -> Outcome:
    """As the issue did it: whatever moment the kill lands, status and destination agree."""
    case = Case(root, user_files=300, overlap=200)
    name = case.create(unique("outside"), files=400)
    runner = case.runner_pid(name)
    hidden = lambda: any(p.name.startswith(".") for d in (case.dest, case.dest.parent) for p in d.iterdir())  # noqa: E731
    case.go_file(name).touch()
    wait_until(hidden, 60)
    kill(runner)
    outcome = Outcome()
    seen = case.wait_file_terminal(name, 15)
    outcome.check(seen in TERMINAL, f"state.json still {seen} 15 s after the runner died")
    job = case.finish(name)
    made = produced(400) if job["ProcessingJobStatus"] == "Completed" else {}
    result = judge(case, job, made)
    result.problems[:0] = outcome.problems
    return result


# ---------------------------------------------------------------------------------------- stops


def _stop_at(root: Path, point: str, then_kill: bool = False) -> Outcome:
    """The runner stops (SIGSTOP) at ``point``; a stop request arrives; the runner goes on (or dies)."""
    case = Case(root)
    name = case.create(unique("stop"), failpoint=f"{point}@stop", inputs=point == "staging")
    runner = case.runner_pid(name)
    case.go_file(name).touch()
    outcome = Outcome()
    outcome.check(wait_until(lambda: proc_state(runner) == "T", 60), f"runner never reached {point}")
    case.backend.stop_processing_job(ProcessingJobName=name)
    kill(runner, signal.SIGKILL if then_kill else signal.SIGCONT)
    job = case.finish(name)
    result = judge(case, job, {}, expect=("Stopped",))
    result.problems[:0] = outcome.problems
    return result


for _point, _kill in (
    ("staging", False),
    ("publish-planned", False),
    ("publish-move:5", False),
    ("publish-move:5", True),
):
    _label = f"stop at {_point}" + (", then runner killed" if _kill else "")
    scenario(_label, "2", point=_point, then_kill=_kill)(_stop_at)


@scenario("stop from outside mid-publish (1500 files)", "2")
def stop_from_outside(root: Path) -> Outcome:
    """A stop accepted before the job completed wins: Stopped, the destination as it was."""
    case = Case(root)
    name = case.create(unique("stopout"), files=1500)
    case.go_file(name).touch()
    wait_until(
        lambda: any(p.name.startswith(".") for d in (case.dest, case.dest.parent) for p in d.iterdir()), 60
    )
    try:
        case.backend.stop_processing_job(ProcessingJobName=name)
        accepted = True
    except client_errors.ValidationException:  # it had already completed: a fair race
        accepted = False
    job = case.finish(name)
    return judge(
        case, job, {} if accepted else produced(1500), expect=("Stopped",) if accepted else ("Completed",)
    )


@scenario("stop while the job runs", "2")
def stop_running(root: Path) -> Outcome:
    case = Case(root)
    name = case.create(unique("stoprun"))
    case.runner_pid(name)
    wait_until(lambda: processes_with(str(case.producer)), 30)
    case.backend.stop_processing_job(ProcessingJobName=name)
    return judge(case, case.finish(name), {}, expect=("Stopped",))


# -------------------------------------------------------------------------------- shared destination


@scenario("5 jobs publish into one new folder at once", "3", jobs=5)
def shared_destination(root: Path, jobs: int) -> Outcome:
    """All runners stop right before moving into place, then go on at the same instant."""
    case = Case(root, user_files=0)
    names = [
        case.create(unique(f"share{i}"), failpoint="publish-planned@stop", prefix=f"j{i}")
        for i in range(jobs)
    ]
    runners = [case.runner_pid(n) for n in names]
    for name in names:
        case.go_file(name).touch()
    outcome = Outcome()
    outcome.check(
        wait_until(lambda: all(proc_state(r) == "T" for r in runners), 120), "runners never all ready"
    )
    for runner in runners:
        kill(runner, signal.SIGCONT)
    made: dict[str, bytes] = {}
    for i, name in enumerate(names):
        job = case.finish(name)
        outcome.check(job["ProcessingJobStatus"] == "Completed", f"{name}: {job.get('FailureReason')}")
        made.update(produced(30, f"j{i}"))
    after = tree(case.dest)
    outcome.check(
        all(after.get(rel) == data for rel, data in made.items()), "not every job's files are there"
    )
    outcome.check(not leftovers(case), f"scratch left: {leftovers(case)[:3]}")
    return outcome


# ---------------------------------------------------------------------------------------- watchdog

TREE = """
import subprocess, sys, time
marker = sys.argv[1]
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", marker], start_new_session=True)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", marker])
time.sleep(600)
"""


def _tree_job(case: Case, name: str, max_runtime: int = 60) -> str:
    script = case.root / "tree.py"
    script.write_text(TREE)
    marker = unique("marker")
    request = make_request(name, script, StoppingCondition={"MaxRuntimeInSeconds": max_runtime})
    request["AppSpecification"]["ContainerArguments"] = [marker]
    case.backend.create_processing_job(**request)
    wait_until(lambda: len(python_processes(marker)) == 3, 60)  # the script and its two children
    return marker


@scenario("runner killed, nobody describes", "12")
def runner_killed_nobody_looks(root: Path) -> Outcome:
    case = Case(root)
    name = unique("orphan")
    marker = _tree_job(case, name, max_runtime=5)
    kill(case.runner_pid(name))
    outcome = Outcome()
    seen = case.wait_file_terminal(name, 4)
    outcome.check(seen == "Failed", f"state.json {seen} 4 s after the runner died")
    outcome.check(wait_until(lambda: not processes_with(marker), 4), "job processes outlived their runner")
    return outcome


@scenario("runner blocked (SIGSTOP) past MaxRuntime", "10, 12")
def runner_blocked(root: Path) -> Outcome:
    with env(SM_PROCESSING_KILL_GRACE="0.5"):
        case = Case(root)
        name = unique("blocked")
        marker = _tree_job(case, name, max_runtime=2)
        runner = case.runner_pid(name)
        kill(runner, signal.SIGSTOP)
    outcome = Outcome()
    outcome.check(wait_until(lambda: not processes_with(marker), 15), "job processes alive past MaxRuntime")
    seen = case.wait_file_terminal(name, 20)
    outcome.check(seen == "Failed", f"state.json {seen} while its runner is blocked")
    reason = case.state_file(name).get("FailureReason", "")
    outcome.check("MaxRuntimeExceeded" in reason, f"reason: {reason}")
    kill(runner)
    return outcome


@scenario("runner and watchdog killed while the job runs", "12")
def both_killed(root: Path) -> Outcome:
    case = Case(root)
    name = unique("both")
    marker = _tree_job(case, name)
    record = case.record(name)
    kill(record["watchdog"]["pid"])
    kill(record["pid"])
    outcome = Outcome()
    outcome.check(wait_until(lambda: not processes_with(marker), 5), "job processes outlived their runner")
    job = case.finish(name, timeout=10)
    outcome.check(job["ProcessingJobStatus"] == "Failed", f"describe says {job['ProcessingJobStatus']}")
    return outcome


@scenario("the job's own process killed", "12")
def job_killed(root: Path) -> Outcome:
    case = Case(root)
    name = unique("jobkill")
    marker = _tree_job(case, name)
    for pid in python_processes(marker):  # the script and its children: a crash, an OOM kill
        kill(pid)
    job = case.finish(name)
    outcome = Outcome()
    outcome.check(job["ProcessingJobStatus"] == "Failed", f"status {job['ProcessingJobStatus']}")
    outcome.check("AlgorithmError" in (job.get("FailureReason") or ""), f"reason: {job.get('FailureReason')}")
    return outcome


FIFO = """
import os, sys, time
os.mkfifo("/opt/ml/output/message")
os.makedirs("/opt/ml/processing/output/result", exist_ok=True)
os.mkfifo("/opt/ml/processing/output/result/pipe")
open("/opt/ml/processing/output/result/real.csv", "w").write("real")
time.sleep(float(sys.argv[1]))
"""


@scenario("FIFO as the exit message and in outputs", "10")
def fifo_message(root: Path) -> Outcome:
    case = Case(root)
    name = case.start_script(FIFO, ["0"], "fifo", StoppingCondition={"MaxRuntimeInSeconds": 30})
    job = case.finish(name, timeout=20)
    result = judge(case, job, {"real.csv": b"real"}, expect=("Completed",))
    result.check(not job.get("ExitMessage"), f"ExitMessage {job.get('ExitMessage')!r}")
    lines = "\n".join(case.backend.get_log_events(ProcessingJobName=name)["events"])
    result.check("not a regular file" in lines, "no log line about the skipped FIFO")
    return result


@scenario("FIFO as the exit message, then a stop", "10")
def fifo_then_stop(root: Path) -> Outcome:
    case = Case(root)
    name = case.start_script(FIFO, ["600"], "fifostop")
    wait_until(lambda: processes_with(str(case.producer)), 30)
    case.backend.stop_processing_job(ProcessingJobName=name)
    started = time.monotonic()
    job = case.finish(name, timeout=20)
    result = judge(case, job, {}, expect=("Stopped",))
    result.check(time.monotonic() - started < 15, "the stop took longer than 15 s")
    return result


CREATOR = """
import sys
sys.path.insert(0, {support!r})
from local_backend_support import make_request
from sagemaker_processing_provider.local.backend import LocalProcessingBackend
LocalProcessingBackend({home!r}).create_processing_job(**make_request({name!r}, {script!r}))
"""


def _creator_killed(root: Path, point: str) -> Outcome:
    """The creating process (an Airflow worker) dies at ``point`` of create_processing_job."""
    case = Case(root)
    name = unique("creator")
    script = root / "ok.py"
    script.write_text("print('ok')")
    support = str(Path(__file__).resolve().parents[1] / "local_backend")
    code = CREATOR.format(support=support, home=str(case.backend.home), name=name, script=str(script))
    with env(**{FAILPOINT: point}):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, timeout=120)
    outcome = Outcome()
    outcome.check(proc.returncode == -signal.SIGKILL, f"the creator was not killed: {proc.stderr[-300:]!r}")
    exists = case.backend.store.exists(name)
    if point == "create-renamed":
        outcome.check(exists, "the job vanished although its folder was in place")
        if exists:
            job = case.finish(name, timeout=60)
            outcome.check(job["ProcessingJobStatus"] == "Completed", f"status {job['ProcessingJobStatus']}")
    else:
        outcome.check(not exists, "a job exists without a runner")
    outcome.check(wait_until(lambda: not leftovers(case), 10), f"scratch left: {leftovers(case)[:3]}")
    return outcome


for _point in ("create-spawned", "create-renamed"):
    scenario(f"worker killed at {_point}", "13", point=_point)(_creator_killed)
