"""``ProcessingHook``: one place that picks the backend (AWS or local) from the Airflow connection.

The backend is chosen by the connection's extra ``processing_backend``: ``"aws"`` (the default when the
extra is absent) or ``"local"`` (optional extra ``local_home``: the job store folder, else
``SM_PROCESSING_HOME``, else ``~/.sm-processing``). Any other value is an error: a typo never falls back
to running jobs on the worker. AWS access goes only through the Amazon provider's hooks
(``SageMakerHook``, ``S3Hook``, ``AwsLogsHook``), so credentials, regions, endpoints and botocore
config come from the same connection as every other AWS task.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseHook

from sagemaker_processing_provider.errors import RequestError

BACKEND_EXTRA = "processing_backend"
BACKENDS = ("aws", "local")
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
# The SDK's default bucket when no code_location is given: sagemaker-<region>-<account>.
DEFAULT_BUCKET = "sagemaker-{region}-{account}"
DEFAULT_CODE_PREFIX = "processing-code"


class ProcessingHook(BaseHook):
    """Gives operators and triggers the same client whichever backend the connection names.

    :param aws_conn_id: Airflow connection (type ``aws``); its extras also choose the backend.
    :param region_name: AWS region; overrides the connection's.
    :param verify: SSL verification for AWS calls (as ``AwsBaseHook``).
    :param botocore_config: botocore ``Config`` parameters as a dict (as ``AwsBaseHook``).
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = "aws"
    hook_name = "SageMaker Processing"

    def __init__(
        self,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id
        self._region_name = region_name
        self._verify = verify
        self._botocore_config = botocore_config

    # -- backend choice ------------------------------------------------------------------------------

    def _aws_kwargs(self) -> dict[str, Any]:
        return {
            "aws_conn_id": self.aws_conn_id,
            "region_name": self._region_name,
            "verify": self._verify,
            "config": self._botocore_config,
        }

    @cached_property
    def sagemaker_hook(self):
        """The Amazon provider's ``SageMakerHook`` on this connection (also reads the extras)."""
        from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

        return SageMakerHook(**self._aws_kwargs())

    @cached_property
    def extras(self) -> dict[str, Any]:
        """The connection's extras, read through the Amazon provider (a missing connection is ``{}``)."""
        if not self.aws_conn_id:
            return {}
        return dict(self.sagemaker_hook.conn_config.extra_config or {})

    @cached_property
    def backend(self) -> str:
        """``"aws"`` or ``"local"``; anything else in the extra raises (never a silent local run)."""
        value = self.extras.get(BACKEND_EXTRA, "aws")
        if not isinstance(value, str) or value.strip().lower() not in BACKENDS:
            raise RequestError(
                f"connection {self.aws_conn_id!r} extra {BACKEND_EXTRA!r}",
                f"expected one of {', '.join(repr(b) for b in BACKENDS)}, got {value!r}",
            )
        return value.strip().lower()

    @property
    def is_local(self) -> bool:
        return self.backend == "local"

    @cached_property
    def local_home(self) -> Path:
        """The local job store (extra ``local_home`` > ``SM_PROCESSING_HOME`` > ``~/.sm-processing``)."""
        return self.client.home

    @cached_property
    def client(self):
        """A boto3 SageMaker client (AWS) or a ``LocalProcessingBackend`` (same methods and shapes)."""
        if self.backend == "aws":
            self.log.info("Using the AWS SageMaker Processing backend (connection %r)", self.aws_conn_id)
            return self.sagemaker_hook.conn
        from sagemaker_processing_provider.local.backend import LocalProcessingBackend

        home = self.extras.get("local_home")
        backend = LocalProcessingBackend(home=Path(home).expanduser() if home else None)
        self.log.info(
            "Using the LOCAL SageMaker Processing backend (job store %s, connection %r): "
            "jobs run on this machine, not on AWS",
            backend.home,
            self.aws_conn_id,
        )
        return backend

    def get_conn(self):
        return self.client

    @property
    def region_name(self) -> str:
        """Region used for image URIs and links (local: the given one, the connection's, or us-east-1)."""
        if self.backend == "aws":
            return self.sagemaker_hook.conn_region_name
        return self._region_name or self.extras.get("region_name") or "us-east-1"

    # -- staging --------------------------------------------------------------------------------------

    def stager(self, code_location: str | None = None):
        """Where local code and dependencies go: used in place (local) or uploaded once to S3 (AWS).

        :param code_location: ``s3://bucket/prefix`` for uploads; default the SDK's bucket
            ``sagemaker-<region>-<account>`` (created if missing, as the SDK does).
        """
        from sagemaker_processing_provider.request.staging import LocalStager, S3Stager

        if self.is_local:
            return LocalStager(self.local_home)
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        s3 = S3Hook(**self._aws_kwargs())
        if code_location:
            if not code_location.startswith("s3://") or len(code_location) <= len("s3://"):
                raise RequestError("code_location", f"expected s3://bucket[/prefix], got {code_location!r}")
            bucket, _, prefix = code_location[len("s3://") :].partition("/")
            return S3Stager(s3.conn, bucket, prefix.strip("/") or DEFAULT_CODE_PREFIX)
        bucket = DEFAULT_BUCKET.format(region=self.region_name, account=self.sagemaker_hook.account_id)
        if not s3.check_for_bucket(bucket):
            self.log.info("Creating the default SageMaker bucket %s", bucket)
            s3.create_bucket(bucket_name=bucket, region_name=self.region_name)
        return S3Stager(s3.conn, bucket, DEFAULT_CODE_PREFIX)

    def default_output_prefix(self, stager) -> str:
        """Where outputs without a ``destination`` go (``<prefix>/<job>/output/<name>``, as the SDK).

        AWS: the staging bucket (``code_location``'s, else the SDK's default bucket); local:
        ``<job store>/outputs``.
        """
        if self.is_local:
            return (Path(self.local_home).resolve() / "outputs").as_uri()
        return f"s3://{stager.bucket}"

    # -- logs -----------------------------------------------------------------------------------------

    def log_events(self, job_name: str, cursor: Any = None) -> tuple[list[str], Any]:
        """The job's log lines written since ``cursor``; returns ``(lines, new_cursor)``.

        The cursor is JSON-serialisable (it travels in trigger kwargs and events): an int offset
        locally, ``{stream: next_token}`` on AWS.
        """
        if self.is_local:
            answer = self.client.get_log_events(ProcessingJobName=job_name, StartFromOffset=int(cursor or 0))
            return list(answer["events"]), int(answer["nextOffset"])
        return self._cloudwatch_events(job_name, dict(cursor or {}))

    @cached_property
    def _logs_hook(self):
        from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook

        return AwsLogsHook(**self._aws_kwargs())

    def _cloudwatch_events(self, job_name: str, tokens: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """Read every ``<job_name>/...`` stream of the processing log group from its saved token."""
        logs = self._logs_hook.conn
        try:
            streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job_name}/")
        except logs.exceptions.ResourceNotFoundException:
            return [], tokens
        names = sorted(s["logStreamName"] for s in streams.get("logStreams", []))
        lines: list[str] = []
        for name in names:
            host = name[len(job_name) + 1 :]
            while True:
                kwargs = {"logGroupName": LOG_GROUP, "logStreamName": name, "startFromHead": True}
                if name in tokens:
                    kwargs["nextToken"] = tokens[name]
                answer = logs.get_log_events(**kwargs)
                for event in answer.get("events", []):
                    message = event["message"].rstrip("\n")
                    lines.append(f"[{host}] {message}" if len(names) > 1 else message)
                token = answer.get("nextForwardToken")
                if not token or token == tokens.get(name):
                    break
                tokens[name] = token
        return lines, tokens

    # -- links ----------------------------------------------------------------------------------------

    def console_urls(self, job_name: str) -> dict[str, str]:
        """``{"job": url, "logs": url}``: SageMaker/CloudWatch consoles (AWS) or the job folder (local)."""
        if self.is_local:
            folder = Path(self.local_home).resolve() / "jobs" / job_name
            return {"job": folder.as_uri(), "logs": (folder / "output.log").as_uri()}
        region = self.region_name
        domain = _console_domain(self.sagemaker_hook.conn_partition)
        base = f"https://{region}.console.{domain}"
        group = _console_escape(LOG_GROUP)
        stream_filter = "$3FlogStreamNameFilter$3D" + _console_escape(f"{job_name}/")
        return {
            "job": f"{base}/sagemaker/home?region={region}#/processing-jobs/{job_name}",
            "logs": f"{base}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{group}{stream_filter}",
        }


def _console_domain(partition: str) -> str:
    return {"aws-cn": "amazonaws.cn", "aws-us-gov": "amazonaws-us-gov.com"}.get(partition, "aws.amazon.com")


def _console_escape(value: str) -> str:
    """The CloudWatch console's fragment encoding: URL-encoded twice, ``%`` written as ``$``."""
    return quote(quote(value, safe=""), safe="").replace("%", "$")
