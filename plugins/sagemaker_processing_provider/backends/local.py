"""``LocalBackend``: processing jobs on this machine, through the local engine (``local/``).

The engine's ``LocalProcessingBackend`` already speaks boto3's SageMaker method names and shapes; this
adapter adds what the seam needs around it: files used in place (no upload), a documented role when
none is given, the job store's folders as default outputs, the UI plugin's pages as links, the engine's log cursor.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any

from sagemaker_processing_provider.backends.base import ClientBackend
from sagemaker_processing_provider.backends.staging import LocalStager

log = logging.getLogger(__name__)

# RoleArn is required by the API; the local backend never assumes it, so it gets this documented one.
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/sm-processing-local"
POLL_INTERVAL = 2.0  # local jobs of a few seconds are common:
FIRST_POLL_INTERVAL = 0.25  # checked after 0.25, 0.75, 1.75, 3.75 s, then every 2 s
# ... but a wait ends as soon as the job's state file changes (checked this often: a stat, no parse), so
# a task sees its job end within ~50 ms instead of up to 2 s later (benchmarks/pipeline_run.py).
STATE_CHECK_SECONDS = 0.05


class LocalBackend(ClientBackend):
    """Jobs in the local job store ``home`` (``None``: ``SM_PROCESSING_HOME`` or ``~/.sm-processing``)."""

    name = "local"
    poll_interval = POLL_INTERVAL
    first_poll_interval = FIRST_POLL_INTERVAL

    def __init__(self, home: Path | str | None = None, region: str = "us-east-1") -> None:
        self._home = home
        self.region = region

    @cached_property
    def client(self) -> Any:
        from sagemaker_processing_provider.local.backend import LocalProcessingBackend

        engine = LocalProcessingBackend(home=self._home)
        log.info(
            "Using the LOCAL SageMaker Processing backend (job store %s): jobs run on this machine, not on AWS",
            engine.home,
        )
        return engine

    @cached_property
    def _s3(self) -> Any:
        from sagemaker_processing_provider.local.transfer import lazy_s3_client

        return lazy_s3_client()

    def s3_client(self) -> Any:
        """boto3's default chain, as the local engine's staging (``AWS_ENDPOINT_URL`` works)."""
        return self._s3()

    @property
    def home(self) -> Path:
        return self.client.home

    def wait_for_change(self, job_name: str, seconds: float) -> bool:
        """Up to ``seconds``; True as soon as the job's state changes (the engine watches its file)."""
        return self.client.wait_for_change(job_name, seconds, STATE_CHECK_SECONDS)

    def validate(self, request: dict) -> None:
        from sagemaker_processing_provider.api.validation import validate_create_request

        validate_create_request(request, local=True)

    def resolve_role(self, role: str | None) -> str:
        """The role is recorded, never assumed: a name becomes an ARN of the local account."""
        if not role:
            return LOCAL_ROLE_ARN
        return role if role.startswith("arn:") else f"arn:aws:iam::000000000000:role/{role}"

    def stager(self, code_location: str | None = None, kms_key_id: str | None = None) -> LocalStager:
        if code_location:
            log.info("code_location %s is not used locally: local files are used in place", code_location)
        return LocalStager(self.home)

    def default_output_prefix(self, stager: Any) -> str:
        return (self.home / "outputs").as_uri()

    def log_events(self, job_name: str, cursor: Any) -> tuple[list[str], Any]:
        answer = self.client.get_log_events(ProcessingJobName=job_name, StartFromOffset=int(cursor or 0))
        return list(answer["events"]), int(answer["nextOffset"])

    def console_urls(self, job_name: str) -> dict[str, str]:
        """The UI plugin's job page and log: same-origin http links, which the Airflow 3 UI renders
        (it shows no button for a ``file://`` URL). ``sm-processing describe`` gives the folder."""
        from sagemaker_processing_provider.ui.paths import job_log_path, job_path

        return {"job": job_path(job_name), "logs": job_log_path(job_name)}
