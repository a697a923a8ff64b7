"""``sm-processing serve`` as a process: binding, signals, restarts, a light CLI."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from endpoint_support import job_request, seed_bucket, start_endpoint, unique, wait_for


def test_sigint_stops_the_server_and_jobs_outlive_it(
    aws_env: str,
    aws_subprocess_env: dict[str, str],
    moto_server: str,
    tmp_path: Path,
    release: Path,
) -> None:
    import boto3

    home = tmp_path / "store"
    bucket = unique("restart")
    boto3.client("s3").create_bucket(Bucket=bucket)
    seed_bucket(bucket)
    first = start_endpoint(home, aws_subprocess_env, moto_server)
    assert first.url.startswith("http://127.0.0.1:")  # loopback unless --host says otherwise
    assert f"Jobs' s3:// data goes to {moto_server}" in first.log()  # from AWS_ENDPOINT_URL_S3
    name = unique("survivor")
    first.client("sagemaker").create_processing_job(
        **job_request(name, bucket, "wait", env={"RELEASE_FILE": str(release)})
    )
    first.process.send_signal(signal.SIGINT)  # Ctrl-C
    assert first.process.wait(timeout=30) == 0
    assert "stopped (SIGINT); jobs keep running" in first.log()

    second = start_endpoint(home, aws_subprocess_env, moto_server)
    try:
        sm = second.client("sagemaker")
        assert sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "InProgress"
        release.touch()
        assert wait_for(sm, name)["ProcessingJobStatus"] == "Completed"
    finally:
        second.stop()


def test_a_taken_port_is_a_one_line_error(aws_subprocess_env: dict[str, str], tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        command = [sys.executable, "-m", "sagemaker_processing_provider.local.cli", "serve", "--port", port]
        done = subprocess.run(
            [*command, "--home", str(tmp_path)],
            env=aws_subprocess_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("sm-processing: error: [Errno 98] Address already in use")
    )


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"]])
def test_cli_startup_imports_no_http_or_botocore(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from sagemaker_processing_provider.local import cli\n"
        "try:\n"
        f"    cli.main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('botocore', 'boto3', 'http.server') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout
