"""``ProcessingHook``: the only place that chooses the backend (AWS or local), from the Airflow connection.

The connection's extra ``processing_backend`` is ``"aws"`` (the default when absent) or ``"local"``
(optional extra ``local_home``: the job store folder, else ``SM_PROCESSING_HOME``, else
``~/.sm-processing``). Any other value is an error: a typo never falls back to running jobs on the
worker. Everything else (credentials, region, ``service_config`` endpoints, botocore config) is read
by the Amazon provider's hooks from the same connection, as for every other AWS task.

The connection (or Airflow's config) also names the **job-name namespace** (see ``namespace``).
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from sagemaker_processing_provider.errors import RequestError

if TYPE_CHECKING:
    from sagemaker_processing_provider.backends.base import ProcessingBackend

BACKEND_EXTRA = "processing_backend"
BACKENDS = ("aws", "local")
NAMESPACE_EXTRA = "job_name_namespace"
CONFIG_SECTION = "sagemaker_processing"


class ProcessingHook(BaseHook):
    """Gives operators and triggers one ``ProcessingBackend`` whichever the connection names.

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
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    @cached_property
    def extras(self) -> dict[str, Any]:
        """The connection's extras (``{}`` without a connection: boto3's default chain, on AWS)."""
        if not self.aws_conn_id:
            return {}
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            connection = self.get_connection(self.aws_conn_id)
        except AirflowNotFoundException:
            self.log.warning(
                "Connection %r not found: using the AWS backend with boto3's defaults", self.aws_conn_id
            )
            return {}
        return dict(connection.extra_dejson or {})

    @cached_property
    def backend_name(self) -> str:
        value = self.extras.get(BACKEND_EXTRA, "aws")
        if not isinstance(value, str) or value.strip().lower() not in BACKENDS:
            raise RequestError(
                f"connection {self.aws_conn_id!r} extra {BACKEND_EXTRA!r}",
                f"expected one of {', '.join(repr(b) for b in BACKENDS)}, got {value!r}",
            )
        return value.strip().lower()

    @cached_property
    def backend(self) -> ProcessingBackend:
        """The backend the connection names (the only backend choice in the package)."""
        if self.backend_name == "local":
            from pathlib import Path

            from sagemaker_processing_provider.backends.local import LocalBackend

            home = self.extras.get("local_home")
            region = self.region_name or self.extras.get("region_name") or "us-east-1"
            return LocalBackend(home=Path(home).expanduser() if home else None, region=region)
        from sagemaker_processing_provider.backends.aws import AwsBackend

        self.log.info("Using the AWS SageMaker Processing backend (connection %r)", self.aws_conn_id)
        return AwsBackend(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    def get_conn(self) -> ProcessingBackend:
        return self.backend

    @cached_property
    def namespace(self) -> str:
        """The deployment's job-name namespace: part of every job name's hash.

        Processing jobs cannot be deleted on AWS, so two Airflow deployments sharing an account must
        never derive the same name. Taken from the connection extra ``job_name_namespace``, else
        ``[sagemaker_processing] job_name_namespace``, else derived from this deployment's metadata
        database URL (all components of one deployment share it; another deployment has another).
        Workers without the database setting (remote/edge workers) must set it explicitly.
        """
        from airflow.sdk import conf

        explicit = self.extras.get(NAMESPACE_EXTRA) or conf.get(CONFIG_SECTION, NAMESPACE_EXTRA, fallback="")
        if explicit:
            return str(explicit)
        database = conf.get("database", "sql_alchemy_conn", fallback="") or ""
        return "db-" + hashlib.sha256(database.encode()).hexdigest()[:8]
