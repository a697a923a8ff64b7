"""The shared processing operator: naming, reattach, wait or defer, logs, stop on kill, links, lineage.

Subclasses (scikit-learn, PySpark, Spark jar) only turn their own parameters into a request through
the request builder (``_build_request``) and name their local files (``_local_files``); every
Airflow behaviour lives here, once.

Retries: the job name is derived from (base, dag, task, run, map index, try). A try first describes
the jobs of this and earlier tries: an ``InProgress`` one is reattached (its worker died; starting a
second job would duplicate the work); a ``Completed`` one is returned only with
``reuse_completed_job=True``; a ``Failed``, ``Stopped`` or ``Stopping`` one gets a new job under this
try's name (a ``Stopping`` job is being stopped on purpose: waiting on it could only fail the retry).

Assets: Airflow 3 records asset events only for outlets declared at parse time, so the operator does
not invent them at run time; declare ``outlets=[Asset("s3://...")]`` on the task for data-aware
scheduling. OpenLineage datasets come from the job's actual S3 inputs and outputs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlparse

from airflow.sdk import BaseOperator, conf

from sagemaker_processing_provider.errors import ProcessingError, ProcessingJobFailed, RequestError
from sagemaker_processing_provider.links.processing import ProcessingJobLink, ProcessingLogsLink
from sagemaker_processing_provider.operators.lineage import job_channels, lineage_facets

if TYPE_CHECKING:
    from airflow.sdk import Context

    from sagemaker_processing_provider.hooks.processing import ProcessingHook

TERMINAL = ("Completed", "Failed", "Stopped")
FAILED = ("Failed", "Stopped")
# RoleArn is required by the API; the local backend never assumes it, so it gets this documented one.
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/sm-processing-local"
AWS_CHECK_INTERVAL = 30.0  # as the Amazon provider's SageMaker operators
LOCAL_CHECK_INTERVAL = 2.0
COMMON_FIELDS = (
    "role",
    "instance_type",
    "instance_count",
    "inputs",
    "outputs",
    "arguments",
    "env",
    "base_job_name",
    "max_runtime_in_seconds",
    "volume_size_in_gb",
    "volume_kms_key",
    "output_kms_key",
    "tags",
    "network_config",
    "framework_version",
    "image_uri",
    "code_location",
    "aws_conn_id",
    "region_name",
)


def stop_job(hook: ProcessingHook, job_name: str, log) -> None:
    """Stop a job that is still running; a job that already ended (or is stopping) is left alone."""
    try:
        status = hook.client.describe_processing_job(ProcessingJobName=job_name)["ProcessingJobStatus"]
        if status != "InProgress":
            log.info("Processing job %s is %s; nothing to stop", job_name, status)
            return
        log.warning("Stopping processing job %s", job_name)
        hook.client.stop_processing_job(ProcessingJobName=job_name)
    except Exception:
        log.exception("Could not stop processing job %s; it may still be running", job_name)


class SageMakerProcessingBaseOperator(BaseOperator):
    """Run one SageMaker Processing job, on AWS or locally (the connection decides), and wait for it.

    Parameters carry the SageMaker Python SDK's names. Additionally:

    :param code_location: ``s3://bucket/prefix`` where local code/dependencies are uploaded (AWS).
    :param aws_conn_id: connection; its extra ``processing_backend`` picks ``aws`` (default) or ``local``.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param check_interval: seconds between two status checks (default: 30 on AWS, 2 on the local
        backend, where jobs of a few seconds are common).
    :param reuse_completed_job: a retry may return an earlier try's *Completed* job instead of
        running again (default: a cleared or retried task runs a new job).
    :param print_log: copy the job's log lines into the task log.
    """

    default_base_job_name: ClassVar[str] = "processing"
    template_fields: Sequence[str] = COMMON_FIELDS
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "inputs": "json",
        "outputs": "json",
        "env": "json",
        "tags": "json",
        "network_config": "json",
        "arguments": "py",
    }
    operator_extra_links = (ProcessingJobLink(), ProcessingLogsLink())
    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        role: str | None = None,
        instance_type: str | None = None,
        instance_count: int = 1,
        inputs: list[dict] | None = None,
        outputs: list[dict] | None = None,
        arguments: list[str] | None = None,
        env: dict[str, str] | None = None,
        base_job_name: str | None = None,
        max_runtime_in_seconds: int | None = None,
        volume_size_in_gb: int = 30,
        volume_kms_key: str | None = None,
        output_kms_key: str | None = None,
        tags: list[dict] | dict[str, str] | None = None,
        network_config: dict | None = None,
        framework_version: str | None = None,
        image_uri: str | None = None,
        code_location: str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        check_interval: float | None = None,
        reuse_completed_job: bool = False,
        print_log: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.role = role
        self.instance_type = instance_type
        self.instance_count = instance_count
        self.inputs = inputs
        self.outputs = outputs
        self.arguments = arguments
        self.env = env
        self.base_job_name = base_job_name
        self.max_runtime_in_seconds = max_runtime_in_seconds
        self.volume_size_in_gb = volume_size_in_gb
        self.volume_kms_key = volume_kms_key
        self.output_kms_key = output_kms_key
        self.tags = tags
        self.network_config = network_config
        self.framework_version = framework_version
        self.image_uri = image_uri
        self.code_location = code_location
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.deferrable = deferrable
        self.check_interval = check_interval
        self.reuse_completed_job = reuse_completed_job
        self.print_log = print_log
        self._job_name: str | None = None
        self._description: dict | None = None

    # -- what subclasses provide ----------------------------------------------------------------------

    def _build_request(self, common: dict[str, Any]) -> dict:
        """Call this processor's request builder with ``common`` plus the subclass's own parameters."""
        raise NotImplementedError

    def _local_files(self) -> dict[str, str | list[str] | None]:
        """``{parameter: path or paths}`` that must exist locally when they are not URIs."""
        return {}

    # -- execute --------------------------------------------------------------------------------------

    @cached_property
    def hook(self) -> ProcessingHook:
        from sagemaker_processing_provider.hooks.processing import ProcessingHook

        return ProcessingHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        self._check_local_files()
        hook = self.hook
        job_name, description = self._attach_or_create(hook, context)
        self._job_name = job_name
        urls = hook.console_urls(job_name)
        ProcessingJobLink.persist(context, self, urls["job"])
        ProcessingLogsLink.persist(context, self, urls["logs"])
        self.log.info("Processing job %s: %s (logs: %s)", job_name, urls["job"], urls["logs"])
        if description["ProcessingJobStatus"] not in TERMINAL:
            if self.deferrable:
                self._defer(job_name)
            description = self._wait(hook, job_name)
        return self._finish(hook, description)

    def _attach_or_create(self, hook: ProcessingHook, context: Context) -> tuple[str, dict]:
        """Reattach to a running job of an earlier try, reuse a completed one if allowed, else create."""
        ti = context["ti"]
        names = self._names(ti)
        try_number = int(ti.try_number)
        for number in range(try_number, 0, -1):
            found = self._describe_or_none(hook, names(number))
            if found is None:
                continue
            status = found["ProcessingJobStatus"]
            if status == "InProgress":
                self.log.warning(
                    "REATTACHING to processing job %s (started by try %d, still running) instead of "
                    "starting a duplicate",
                    names(number),
                    number,
                )
                self._job_name = names(number)
                return names(number), found
            if status == "Completed" and self.reuse_completed_job:
                self.log.info(
                    "Reusing completed job %s of try %d (reuse_completed_job=True)", names(number), number
                )
                return names(number), found
            if number == try_number:
                raise ProcessingError(
                    f"Processing job {names(number)} of this very try already exists and is {status}; "
                    "was this run id reused? Clear the task to run it again under a new try."
                )
            self.log.info("Job %s of try %d is %s: starting a new job", names(number), number, status)
        job_name = names(try_number)
        request = self._build_request(self._common_request_args(hook, job_name))
        self._job_name = job_name  # from here on, on_kill can stop it
        self.log.info(
            "Creating processing job %s (image %s)", job_name, request["AppSpecification"]["ImageUri"]
        )
        hook.client.create_processing_job(**request)
        return job_name, hook.client.describe_processing_job(ProcessingJobName=job_name)

    def _names(self, ti):
        from sagemaker_processing_provider.request.names import job_name_for

        identity = {
            "base": self.base_job_name or self.default_base_job_name,
            "dag_id": ti.dag_id,
            "task_id": ti.task_id,
            "run_id": ti.run_id,
            "map_index": -1 if ti.map_index is None else int(ti.map_index),
        }
        return lambda try_number: job_name_for(**identity, try_number=try_number)

    @staticmethod
    def _describe_or_none(hook: ProcessingHook, job_name: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return hook.client.describe_processing_job(ProcessingJobName=job_name)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ValidationException" and "Could not find" in error.get("Message", ""):
                return None
            raise

    def _common_request_args(self, hook: ProcessingHook, job_name: str) -> dict[str, Any]:
        if not self.instance_type:
            raise RequestError("instance_type", "required (e.g. 'ml.m5.xlarge')")
        stager = hook.stager(self.code_location)
        role = self.role
        if not role:
            if not hook.is_local:
                raise RequestError("role", "required on the AWS backend: an IAM role ARN or name")
            role = LOCAL_ROLE_ARN
        elif not hook.is_local and not role.startswith("arn:"):
            role = hook.sagemaker_hook.expand_role(role)  # a role name -> its ARN, through IAM
        return {
            "job_name": job_name,
            "framework_version": self.framework_version,
            "image_uri": self.image_uri,
            "role": role,
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "arguments": self.arguments,
            "env": self.env,
            "volume_size_in_gb": self.volume_size_in_gb,
            "volume_kms_key": self.volume_kms_key,
            "output_kms_key": self.output_kms_key,
            "max_runtime_in_seconds": self.max_runtime_in_seconds,
            "tags": self.tags,
            "network_config": self.network_config,
            "region": hook.region_name,
            "stager": stager,
            "default_output_prefix": hook.default_output_prefix(stager),
        }

    def _check_local_files(self) -> None:
        """Fail before any job starts when a local code/dependency file named by a parameter is missing."""
        for field, value in self._local_files().items():
            for path in [value] if isinstance(value, str) else value or []:
                parsed = urlparse(str(path))
                if parsed.scheme not in ("", "file"):
                    continue
                local = Path(parsed.path if parsed.scheme == "file" else str(path)).expanduser()
                if not local.exists():
                    raise RequestError(field, f"local path {str(local)!r} does not exist")

    # -- wait -----------------------------------------------------------------------------------------

    def _wait(self, hook: ProcessingHook, job_name: str) -> dict:
        """Poll until the job ends, streaming its log; any interruption stops the job, then re-raises."""
        cursor: Any = None
        try:
            while True:
                description = hook.client.describe_processing_job(ProcessingJobName=job_name)
                cursor = self._print_log(hook, job_name, cursor)
                status = description["ProcessingJobStatus"]
                if status in TERMINAL:
                    self._print_log(hook, job_name, cursor)
                    return description
                time.sleep(self._poll_seconds(hook))
        except BaseException:
            self.log.error("Interrupted while waiting for processing job %s", job_name)
            stop_job(hook, job_name, self.log)
            raise

    def _poll_seconds(self, hook: ProcessingHook) -> float:
        if self.check_interval is not None:
            return float(self.check_interval)
        return LOCAL_CHECK_INTERVAL if hook.is_local else AWS_CHECK_INTERVAL

    def _print_log(self, hook: ProcessingHook, job_name: str, cursor: Any) -> Any:
        if not self.print_log:
            return cursor
        try:
            lines, cursor = hook.log_events(job_name, cursor)
        except Exception as exc:  # the log is for humans: never fail the task for it
            self.log.warning("Could not read the log of %s: %s", job_name, exc)
            return cursor
        for line in lines:
            self.log.info("[job] %s", line)
        return cursor

    def _defer(self, job_name: str) -> None:
        from sagemaker_processing_provider.triggers.processing import ProcessingJobTrigger

        self.log.info("Deferring: the triggerer waits for %s", job_name)
        self.defer(
            trigger=ProcessingJobTrigger(
                job_name=job_name,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                poll_interval=self._poll_seconds(self.hook),
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: relies only on the event and a fresh describe (any worker may run it)."""
        job_name = event.get("job_name")
        if not job_name or event.get("status") == "error":
            raise ProcessingError(
                f"Waiting for processing job {job_name} failed: {event.get('message', event)}"
            )
        self._job_name = job_name
        hook = self.hook
        self._print_log(hook, job_name, event.get("log_cursor"))
        return self._finish(hook, hook.client.describe_processing_job(ProcessingJobName=job_name))

    def _finish(self, hook: ProcessingHook, description: dict) -> dict[str, Any]:
        job_name, status = description["ProcessingJobName"], description["ProcessingJobStatus"]
        if status in FAILED:
            reason = description.get("FailureReason")
            if not reason and status == "Stopped":
                reason = (
                    "no reason given: the job was stopped (StopProcessingJob: a user, a kill or a timeout)"
                )
            raise ProcessingJobFailed(job_name, status, reason, description.get("ExitMessage"))
        self._description = description
        inputs, outputs = job_channels(description)
        self.log.info("Processing job %s %s; outputs: %s", job_name, status, outputs)
        return {
            "job_name": job_name,
            "status": status,
            "arn": description.get("ProcessingJobArn"),
            "backend": hook.backend,
            "outputs": outputs,
            "inputs": inputs,
        }

    def on_kill(self) -> None:
        if self._job_name:
            stop_job(self.hook, self._job_name, self.log)

    def get_openlineage_facets_on_complete(self, task_instance):
        """S3 (or local) inputs and outputs as OpenLineage datasets; ``None`` without OpenLineage."""
        return lineage_facets(self._description)
