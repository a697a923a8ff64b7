"""Jobs run through the backend: container contract, failures, stop, timeout, dead runner, isolation."""

from __future__ import annotations

import json
import os
import signal
from datetime import datetime, timedelta

import pytest
from local_backend_support import make_request, processes_with, unique, wait, wait_for
from sagemaker_processing_provider.api import client_errors
from sagemaker_processing_provider.local import sandbox

CONTRACT = """
import json, os, sys
cfg = json.load(open("/opt/ml/config/resourceconfig.json"))
job = json.load(open("/opt/ml/config/processingjobconfig.json"))
print("argv", sys.argv[1:], "env", os.environ["GREETING"], "host", cfg["current_host"], cfg["hosts"])
print("cwd", os.getcwd())
assert job["ProcessingJobName"] == os.environ["JOB"], job
os.makedirs("/opt/ml/processing/output/result", exist_ok=True)
with open("/opt/ml/output/message", "w") as fh:
    fh.write(cfg["current_host"] + ";")
"""


def test_contract_environment_entrypoint_arguments_and_exit_message(backend, script):
    name = unique("contract")
    request = make_request(
        name,
        AppSpecification={
            "ImageUri": make_request("x")["AppSpecification"]["ImageUri"],
            "ContainerEntrypoint": ["python3", str(script(CONTRACT))],
            "ContainerArguments": ["--alpha", "1"],
        },
        Environment={"GREETING": "hi there", "JOB": name},
    )
    arn = backend.create_processing_job(**request)["ProcessingJobArn"]
    job = wait(backend, name)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ProcessingJobArn"] == arn == f"arn:aws:sagemaker:us-east-1:000000000000:processing-job/{name}"
    assert job["ExitMessage"] == "algo-1;"
    assert job["Environment"] == {"GREETING": "hi there", "JOB": name}
    for field in ("CreationTime", "ProcessingStartTime", "ProcessingEndTime", "LastModifiedTime"):
        assert isinstance(job[field], datetime) and job[field].tzinfo is not None
    assert job["CreationTime"] <= job["ProcessingStartTime"] <= job["ProcessingEndTime"]
    lines = backend.get_log_events(ProcessingJobName=name)["events"]
    assert "argv ['--alpha', '1'] env hi there host algo-1 ['algo-1']" in lines
    assert f"cwd {backend.job_folder(name)}/hosts/algo-1/work" in lines


def test_job_python_caches_bytecode_in_the_job_store(backend, script, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # would make every job recompile its libraries
    name = unique("pycache")
    backend.create_processing_job(
        **make_request(
            name, script("import sys; print('flags', sys.dont_write_bytecode, sys.pycache_prefix)")
        )
    )
    assert wait(backend, name)["ProcessingJobStatus"] == "Completed"
    lines = backend.get_log_events(ProcessingJobName=name)["events"]
    assert f"flags False {backend.job_folder(name).parents[1] / 'pycache'}" in lines


def test_get_log_events_pages_by_offset(backend, script):
    name = unique("logs")
    backend.create_processing_job(**make_request(name, script("for i in range(5): print('line', i)")))
    wait(backend, name)
    first = backend.get_log_events(ProcessingJobName=name)
    assert first["events"][:5] == [f"line {i}" for i in range(5)]
    rest = backend.get_log_events(ProcessingJobName=name, StartFromOffset=first["nextOffset"])
    assert rest == {"events": [], "nextOffset": first["nextOffset"]}


def test_nonzero_exit_fails_with_reason_and_message(backend, script):
    name = unique("fails")
    code = "open('/opt/ml/output/message','w').write('leakage between train and test'); raise SystemExit(3)"
    backend.create_processing_job(**make_request(name, script(code)))
    job = wait(backend, name)
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError:") and job["FailureReason"].endswith(
        "exit code: 3"
    )
    assert job["ExitMessage"] == "leakage between train and test"


def test_two_hosts_each_with_its_own_current_host(backend, script):
    name = unique("hosts")
    request = make_request(name, script(CONTRACT), Environment={"GREETING": "x", "JOB": name})
    request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = 2
    backend.create_processing_job(**request)
    job = wait(backend, name)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ExitMessage"] == "algo-1;algo-2;"
    lines = backend.get_log_events(ProcessingJobName=name)["events"]
    assert "[algo-1] argv [] env x host algo-1 ['algo-1', 'algo-2']" in lines
    assert "[algo-2] argv [] env x host algo-2 ['algo-1', 'algo-2']" in lines


MEETING = """
import json, os
job = os.environ["SM_PROCESSING_JOB_DIR"]
host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
open(os.path.join(job, "spark-cluster", host), "w").write(host)
seen = sorted(os.listdir(job))
print("seen", host, seen, os.path.exists(os.path.join(job, "state.json")))
"""


def test_hosts_of_one_job_share_only_their_meeting_folder(backend, script):
    if sandbox.mode() != "namespace":
        pytest.skip("hosts run side by side only in namespace mode")
    name = unique("meet")
    request = make_request(name, script(MEETING))
    request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = 2
    backend.create_processing_job(**request)
    job = wait(backend, name)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    lines = backend.get_log_events(ProcessingJobName=name)["events"]
    for host in ("algo-1", "algo-2"):  # the job's folder shows the meeting folder and the host's own
        assert f"[{host}] seen {host} ['hosts', 'spark-cluster'] False" in lines, lines
    meeting = backend.store.jobs / name / "spark-cluster"
    assert sorted(p.name for p in meeting.iterdir()) == ["algo-1", "algo-2"]


ONE_HOST_FAILS = """
import json, sys, time
if json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"] == "algo-2":
    sys.exit(3)
time.sleep(600)
"""


def test_one_host_failing_ends_the_others_and_names_itself(backend, script):
    name = unique("hostfail")
    request = make_request(name, script(ONE_HOST_FAILS))
    request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = 2
    backend.create_processing_job(**request)
    job = wait(backend, name, timeout=60)  # not the 600 s algo-1 would sleep
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].endswith("(algo-2), exit code: 3"), job["FailureReason"]
    lines = backend.get_log_events(ProcessingJobName=name)["events"]
    assert any("algo-2 failed (exit code 3): ending the other hosts" in line for line in lines), lines


ISOLATION = """
import os, sys, time, json
out = "/opt/ml/processing/output"
os.makedirs(out, exist_ok=True)
open(os.path.join(out, sys.argv[1]), "w").write(sys.argv[1])
open(sys.argv[3], "w").write("")  # I have written my file
deadline = time.time() + 60
while not os.path.exists(sys.argv[2]) and time.time() < deadline:  # so has the other job
    time.sleep(0.05)
assert os.path.exists(sys.argv[2]), "the two jobs did not overlap"
open("/opt/ml/output/message", "w").write(json.dumps(sorted(os.listdir(out))))
"""


def test_concurrent_jobs_do_not_see_each_others_files(backend, script, tmp_path):
    code = script(ISOLATION)
    names = [unique("iso-a"), unique("iso-b")]
    flags = [tmp_path / "a.started", tmp_path / "b.started"]
    for name, mine, other in ((names[0], flags[0], flags[1]), (names[1], flags[1], flags[0])):
        request = make_request(name, code)
        request["AppSpecification"]["ContainerArguments"] = [name, str(other), str(mine)]
        backend.create_processing_job(**request)
    jobs = [wait(backend, n) for n in names]
    for name, job in zip(names, jobs, strict=True):
        assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
        assert json.loads(job["ExitMessage"]) == [name]


def _tree_script(marker: str) -> str:
    """A job that starts a grandchild escaping its process group, then waits forever."""
    return f"""
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "{marker}"], start_new_session=True)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "{marker}"])
print("started", flush=True)
time.sleep(600)
"""


def test_stop_ends_the_whole_process_tree(backend, script):
    name, marker = unique("stop"), unique("marker-stop")
    backend.create_processing_job(**make_request(name, script(_tree_script(marker))))
    wait_for(lambda: len(processes_with(marker)) == 2)
    backend.stop_processing_job(ProcessingJobName=name)
    assert backend.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    job = wait(backend, name)
    assert job["ProcessingJobStatus"] == "Stopped"
    wait_for(lambda: not processes_with(marker), timeout=10)
    with pytest.raises(client_errors.ValidationException, match="Stopped"):
        backend.stop_processing_job(ProcessingJobName=name)


def test_max_runtime_fails_the_job_and_kills_it(backend, script):
    name, marker = unique("timeout"), unique("marker-timeout")
    request = make_request(name, script(_tree_script(marker)), StoppingCondition={"MaxRuntimeInSeconds": 2})
    backend.create_processing_job(**request)
    job = wait(backend, name)
    assert job["ProcessingJobStatus"] == "Failed"
    assert "MaxRuntimeInSeconds (2 s)" in job["FailureReason"]
    wait_for(lambda: not processes_with(marker), timeout=10)


def test_killed_runner_fails_the_job_and_its_processes_go(backend, script):
    name, marker = unique("orphan"), unique("marker-orphan")
    backend.create_processing_job(**make_request(name, script(_tree_script(marker))))
    wait_for(lambda: len(processes_with(marker)) == 2)
    runner = json.loads((backend.job_folder(name) / "runner.pid").read_text())
    os.kill(runner["pid"], signal.SIGKILL)
    wait_for(
        lambda: backend.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "Failed"
    )
    job = backend.describe_processing_job(ProcessingJobName=name)
    assert "runner" in job["FailureReason"] and str(runner["pid"]) in job["FailureReason"]
    wait_for(lambda: not processes_with(marker), timeout=10)


def test_describe_and_stop_unknown_job(backend):
    with pytest.raises(
        client_errors.JobNotFound, match="Could not find requested job with name nope"
    ) as info:
        backend.describe_processing_job(ProcessingJobName="nope")
    assert info.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(client_errors.JobNotFound):
        backend.stop_processing_job(ProcessingJobName="nope")


def test_list_filters_sorts_and_pages(backend, script):
    ok, bad = script("print('ok')", "ok.py"), script("raise SystemExit(1)", "bad.py")
    names = {"alpha-ok-1": ok, "alpha-bad-1": bad, "beta-ok-1": ok}
    for name, code in names.items():
        backend.create_processing_job(**make_request(name, code))
    for name in names:
        wait(backend, name)

    def listed(**kwargs):
        return [
            s["ProcessingJobName"] for s in backend.list_processing_jobs(**kwargs)["ProcessingJobSummaries"]
        ]

    assert listed() == ["beta-ok-1", "alpha-bad-1", "alpha-ok-1"]  # newest first by default
    assert listed(NameContains="ALPHA", SortBy="Name", SortOrder="Ascending") == ["alpha-bad-1", "alpha-ok-1"]
    assert listed(StatusEquals="Failed") == ["alpha-bad-1"]
    assert listed(CreationTimeAfter=datetime.now() + timedelta(hours=1)) == []
    page = backend.list_processing_jobs(MaxResults=2, SortBy="Name", SortOrder="Ascending")
    assert [s["ProcessingJobName"] for s in page["ProcessingJobSummaries"]] == ["alpha-bad-1", "alpha-ok-1"]
    assert listed(MaxResults=2, SortBy="Name", SortOrder="Ascending", NextToken=page["NextToken"]) == [
        "beta-ok-1"
    ]
    summary = backend.list_processing_jobs(StatusEquals="Failed")["ProcessingJobSummaries"][0]
    assert summary["FailureReason"].startswith("AlgorithmError") and isinstance(
        summary["CreationTime"], datetime
    )
    with pytest.raises(client_errors.ValidationException, match="StatusEquals"):
        backend.list_processing_jobs(StatusEquals="Done")
