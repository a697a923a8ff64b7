"""``AwsBackend``: SageMaker Processing on AWS, through the Amazon provider's hooks.

Credentials, region, endpoints (``service_config``) and botocore settings all come from the Airflow
connection, exactly as for the Amazon provider's own operators: ``SageMakerHook`` for the API,
``S3Hook`` for uploads, ``AwsLogsHook`` for CloudWatch. Requests are validated against botocore's
service model and SageMaker's Processing rules *before* anything is uploaded.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any
from urllib.parse import quote

from sagemaker_processing_provider.backends import cloudwatch
from sagemaker_processing_provider.backends.base import ClientBackend
from sagemaker_processing_provider.backends.staging import S3Stager
from sagemaker_processing_provider.errors import RequestError

log = logging.getLogger(__name__)

# The SDK's default bucket when no code_location is given: sagemaker-<region>-<account>.
DEFAULT_BUCKET = "sagemaker-{region}-{account}"
DEFAULT_CODE_PREFIX = "processing-code"
POLL_INTERVAL = 30.0  # as the Amazon provider's SageMaker operators


class AwsBackend(ClientBackend):
    """Jobs on SageMaker. ``hook_kwargs``: ``aws_conn_id``, ``region_name``, ``verify``, ``config``."""

    name = "aws"
    poll_interval = first_poll_interval = POLL_INTERVAL

    def __init__(self, **hook_kwargs: Any) -> None:
        self.hook_kwargs = hook_kwargs

    @cached_property
    def sagemaker_hook(self):
        from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

        return SageMakerHook(**self.hook_kwargs)

    @cached_property
    def client(self) -> Any:
        return self.sagemaker_hook.conn

    @cached_property
    def _s3(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(**self.hook_kwargs).conn

    def s3_client(self) -> Any:
        return self._s3

    @cached_property
    def region(self) -> str:
        return self.sagemaker_hook.conn_region_name

    def validate(self, request: dict) -> None:
        from sagemaker_processing_provider.api.validation import validate_create_request

        validate_create_request(request, local=False)

    def resolve_role(self, role: str | None) -> str:
        if not role:
            raise RequestError("role", "required on AWS: an IAM role ARN or name")
        if role.startswith("arn:"):
            return role
        return self.sagemaker_hook.expand_role(role)  # a role name -> its ARN, through IAM

    def stager(self, code_location: str | None = None, kms_key_id: str | None = None) -> S3Stager:
        """Content-addressed uploads to ``code_location`` or the SDK's default bucket (created if missing)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        s3 = S3Hook(**self.hook_kwargs)
        if code_location:
            if not code_location.startswith("s3://") or len(code_location) <= len("s3://"):
                raise RequestError("code_location", f"expected s3://bucket[/prefix], got {code_location!r}")
            bucket, _, prefix = code_location[len("s3://") :].partition("/")
            return S3Stager(s3.conn, bucket, prefix.strip("/") or DEFAULT_CODE_PREFIX, kms_key_id)
        bucket = DEFAULT_BUCKET.format(region=self.region, account=self.sagemaker_hook.account_id)
        if not s3.check_for_bucket(bucket):
            log.info("Creating the default SageMaker bucket %s", bucket)
            s3.create_bucket(bucket_name=bucket, region_name=self.region)
        return S3Stager(s3.conn, bucket, DEFAULT_CODE_PREFIX, kms_key_id)

    def default_output_prefix(self, stager: Any) -> str:
        return f"s3://{stager.bucket}"

    @cached_property
    def _logs(self) -> Any:
        from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook

        return AwsLogsHook(**self.hook_kwargs).conn

    def log_events(self, job_name: str, cursor: Any) -> tuple[list[str], Any]:
        return cloudwatch.new_lines(self._logs, job_name, cursor)

    def console_urls(self, job_name: str) -> dict[str, str]:
        region = self.region
        domain = _console_domain(self.sagemaker_hook.conn_partition)
        base = f"https://{region}.console.{domain}"
        group = _console_escape(cloudwatch.LOG_GROUP)
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
