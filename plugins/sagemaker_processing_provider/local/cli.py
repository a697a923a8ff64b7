"""``sm-processing``: run, describe, list, stop and tail local SageMaker Processing jobs.

    sm-processing run REQUEST.json      submit, stream the log, exit 0 only when Completed (Ctrl-C stops)
    sm-processing describe NAME         the DescribeProcessingJob response as JSON
    sm-processing list [--status S] [--name-contains X]
    sm-processing stop NAME
    sm-processing logs NAME [--follow]
    sm-processing serve [--host 127.0.0.1] [--port 8081]   the SageMaker + CloudWatch Logs HTTP API

``--home`` overrides ``SM_PROCESSING_HOME``. Errors are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sagemaker_processing_provider.errors import ProcessingError
from sagemaker_processing_provider.local.store import TERMINAL

POLL_SECONDS = 0.2
# Between two polls the job's state file is checked this often (a stat): a short job's end is seen
# within 10 ms. A fixed sleep of 0.2 s was a quarter of a trivial `sm-processing run` (benchmarks/cli_run.py).
STATE_CHECK_SECONDS = 0.01


def _json(data: Any) -> str:
    data = {k: v for k, v in data.items() if k != "ResponseMetadata"}
    return json.dumps(data, indent=2, default=lambda o: o.isoformat() if isinstance(o, datetime) else str(o))


def _follow(backend: Any, name: str, follow: bool) -> dict[str, Any]:
    """Print the job's log lines until it ends (or once, without ``follow``); return its description."""
    offset = 0
    while True:
        job = backend.describe_processing_job(ProcessingJobName=name)
        done = job["ProcessingJobStatus"] in TERMINAL
        page = backend.get_log_events(ProcessingJobName=name, StartFromOffset=offset)
        for line in page["events"]:
            print(line, flush=True)
        offset = page["nextOffset"]
        if done or not follow:
            return job
        backend.wait_for_change(name, POLL_SECONDS, STATE_CHECK_SECONDS)


def cmd_run(backend: Any, args: argparse.Namespace) -> int:
    try:
        request = json.loads(Path(args.request).read_text())
    except (OSError, ValueError) as exc:
        raise ProcessingError(f"cannot read request {args.request}: {exc}") from exc
    if not isinstance(request, dict):
        raise ProcessingError(f"{args.request} must hold a JSON object (a CreateProcessingJob request)")
    name = request.get("ProcessingJobName")
    arn = backend.create_processing_job(**request)["ProcessingJobArn"]
    print(f"[sm-processing] created {arn} in {backend.job_folder(name)}", file=sys.stderr, flush=True)
    try:
        job = _follow(backend, name, follow=True)
    except KeyboardInterrupt:
        print(f"[sm-processing] interrupted: stopping {name}", file=sys.stderr, flush=True)
        try:
            backend.stop_processing_job(ProcessingJobName=name)
        except Exception as exc:  # already finished: report it as it is
            print(f"[sm-processing] {exc}", file=sys.stderr)
        job = _follow(backend, name, follow=True)
    status = job["ProcessingJobStatus"]
    print(f"[sm-processing] {name}: {status}", file=sys.stderr)
    for field in ("FailureReason", "ExitMessage"):
        if job.get(field):
            print(f"[sm-processing] {field}: {job[field]}", file=sys.stderr)
    return 0 if status == "Completed" else 1


def cmd_describe(backend: Any, args: argparse.Namespace) -> int:
    print(_json(backend.describe_processing_job(ProcessingJobName=args.name)))
    return 0


def cmd_list(backend: Any, args: argparse.Namespace) -> int:
    kwargs: dict[str, Any] = {"MaxResults": 100}
    if args.status:
        kwargs["StatusEquals"] = args.status
    if args.name_contains:
        kwargs["NameContains"] = args.name_contains
    summaries: list[dict[str, Any]] = []
    while True:
        page = backend.list_processing_jobs(**kwargs)
        summaries += page["ProcessingJobSummaries"]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    print(_json({"ProcessingJobSummaries": summaries}))
    return 0


def cmd_stop(backend: Any, args: argparse.Namespace) -> int:
    backend.stop_processing_job(ProcessingJobName=args.name)
    print(f"[sm-processing] stopping {args.name}", file=sys.stderr)
    return 0


def cmd_logs(backend: Any, args: argparse.Namespace) -> int:
    _follow(backend, args.name, follow=args.follow)
    return 0


SERVE_HELP = """\
Serve the local backend over HTTP in SageMaker's JSON 1.1 protocol (CreateProcessingJob,
DescribeProcessingJob, StopProcessingJob, ListProcessingJobs) and the CloudWatch Logs calls that
log tailing uses (DescribeLogStreams, GetLogEvents on /aws/sagemaker/ProcessingJobs), so boto3, the
AWS CLI, the SageMaker SDK and Airflow's Amazon provider run jobs here with an endpoint URL:

  boto3.client("sagemaker", endpoint_url="http://127.0.0.1:8081")   # and "logs"
  aws sagemaker list-processing-jobs --endpoint-url http://127.0.0.1:8081
  export AWS_ENDPOINT_URL_SAGEMAKER=http://127.0.0.1:8081    # every AWS SDK and the CLI
  export AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=http://127.0.0.1:8081

Jobs' s3:// inputs and outputs go through boto3 in each job's runner, which inherits this
server's environment: the standard AWS configuration decides where S3 is (AWS_ENDPOINT_URL_S3,
else AWS_ENDPOINT_URL, for MinIO/moto/any S3-compatible server) and with which credentials
(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...). Do not point this server's own
AWS_ENDPOINT_URL at itself. Request signatures are accepted without being checked: bind
127.0.0.1 (the default) unless every host that can reach the port may run code on this one.
Stopping the server (SIGTERM, Ctrl-C) leaves running jobs running.
"""


def cmd_serve(backend: Any, args: argparse.Namespace) -> int:
    import logging

    from sagemaker_processing_provider.local.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    if args.verbose:
        logging.getLogger("sagemaker_processing_provider").setLevel(logging.DEBUG)
    return serve(backend, args.host, args.port)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sm-processing", description="Local SageMaker Processing jobs, no Docker."
    )
    p.add_argument("--home", help="job store folder (default: $SM_PROCESSING_HOME or ~/.sm-processing)")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="submit a CreateProcessingJob request (JSON file) and stream its log")
    run.add_argument("request")
    run.set_defaults(func=cmd_run)
    for name, func, text in (
        ("describe", cmd_describe, "print the DescribeProcessingJob response as JSON"),
        ("stop", cmd_stop, "stop a running job"),
    ):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("name")
        sp.set_defaults(func=func)
    lp = sub.add_parser("list", help="print the ListProcessingJobs response as JSON")
    lp.add_argument("--status", choices=["InProgress", "Completed", "Failed", "Stopping", "Stopped"])
    lp.add_argument("--name-contains")
    lp.set_defaults(func=cmd_list)
    logs = sub.add_parser("logs", help="print the job's log")
    logs.add_argument("name")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    logs.set_defaults(func=cmd_logs)
    serve = sub.add_parser(
        "serve",
        help="serve the SageMaker Processing + CloudWatch Logs HTTP API (JSON 1.1) for the local backend",
        description=SERVE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8081, help="port (default 8081; 0 picks a free one)")
    serve.add_argument("--home", default=argparse.SUPPRESS, help="job store folder (as sm-processing --home)")
    serve.add_argument(
        "--verbose", "-v", action="store_true", help="log every call, not only changes and errors"
    )
    serve.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from sagemaker_processing_provider.local.backend import LocalProcessingBackend

    try:
        return args.func(LocalProcessingBackend(args.home), args)
    except Exception as exc:
        if not isinstance(exc, (ProcessingError, OSError)):
            from botocore.exceptions import BotoCoreError, ClientError  # not imported on success

            if not isinstance(exc, (ClientError, BotoCoreError)):
                raise
        message = " ".join(str(exc).split())
        print(f"sm-processing: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
