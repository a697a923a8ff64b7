"""The shared processing operator: create or reattach, wait or defer, logs, stop on kill, links, lineage.

Subclasses declare only their parameter spec (``job_params``, from ``request/params.py``) and their
request builder (``build_request``); the constructor, template fields and docs are generated from the
spec (``operators/signature.py``) and every Airflow behaviour lives here, once. The backend comes
from ``ProcessingHook``; nothing here branches on which one it is.

Assets: Airflow 3 records asset events only for outlets declared at parse time, so the operator does
not invent them at run time; declare ``outlets=[Asset("s3://...")]`` on the task for data-aware
scheduling. OpenLineage datasets come from the job's actual data inputs and outputs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlparse

from airflow.sdk import BaseOperator, conf

from sagemaker_processing_provider.links.processing import (
    ProcessingJobLink,
    ProcessingLogsLink,
    persist_job_name,
)
from sagemaker_processing_provider.operators import signature
from sagemaker_processing_provider.request.params import ProcessorSpec, templated

# What only runs in a task (waiting, attaching, caching, lineage, errors) is imported where it is used:
# a DAG file importing an operator parses ~3 ms faster without it (benchmarks/dag_parse_time.py).
if TYPE_CHECKING:
    from airflow.sdk import Context

    from sagemaker_processing_provider.backends.base import ProcessingBackend
    from sagemaker_processing_provider.hooks.processing import ProcessingHook
    from sagemaker_processing_provider.operators import attach, caching

AWS_FIELDS = ("aws_conn_id", "region_name")
DEFERRAL_GRACE_SECONDS = 60  # Airflow's own deferral timeout backs up the trigger's, a little later


class SageMakerProcessingBaseOperator(BaseOperator):
    """Run one SageMaker Processing job, on AWS or locally (the connection decides), and wait for it.

    Airflow-side options (the processor's own parameters follow, from its spec):

    :param aws_conn_id: connection; its extra ``processing_backend`` picks ``aws`` (default) or ``local``.
    :param region_name: AWS region (overrides the connection's).
    :param verify: SSL verification for AWS calls.
    :param botocore_config: botocore ``Config`` parameters.
    :param wait_for_completion: wait until the job ends (default); ``False``: submit and return.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param check_interval: seconds between two status checks (default: 30 on AWS, 2 on the local
        backend, where jobs of a few seconds are common).
    :param reuse_completed_job: a retry may return an earlier try's *Completed* job instead of
        running again (default: a cleared or retried task runs a new job).
    :param print_log: copy the job's log lines into the task log.

    Returns (XCom) ``{job_name, status, arn, backend, inputs, outputs, cache_hit, "Processing": <the
    whole DescribeProcessingJob answer, JSON-safe>}``: the last key as the Amazon provider's operator
    pushes it. With ``cache_config`` (``operators/caching.py``): ``cache_key``; a hit returns the
    earlier job's result with ``cache_hit: true`` and ``cached_job``.
    """

    job_params: ClassVar[type] = ProcessorSpec  # a declaration of request/params.py
    default_base_job_name: ClassVar[str] = "processing"
    template_fields: Sequence[str] = (*templated(ProcessorSpec), *AWS_FIELDS)
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "inputs": "json",
        "outputs": "json",
        "env": "json",
        "tags": "json",
        "network_config": "json",
        "configuration": "json",
        "arguments": "py",
    }
    operator_extra_links = (ProcessingJobLink(), ProcessingLogsLink())
    ui_color = "#f0ede4"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass that sets ``job_params`` gets its constructor, template fields and docs from it."""
        super().__init_subclass__(**kwargs)
        if "job_params" in cls.__dict__:
            cls.template_fields = (*templated(cls.job_params), *AWS_FIELDS)
            cls.__init__ = signature.spec_init(cls, cls.job_params)  # type: ignore[method-assign]
            cls.__doc__ = f"{cls.__doc__ or ''}\n\n{signature.params_doc(cls.job_params)}\n"

    def __init__(
        self,
        *,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        check_interval: float | None = None,
        reuse_completed_job: bool = False,
        print_log: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.check_interval = check_interval
        self.reuse_completed_job = reuse_completed_job
        self.print_log = print_log
        self._job_name: str | None = None
        self._description: dict | None = None
        self._started = 0.0
        self._cache_key: str | None = None
        self._cache_hit = False

    # -- what subclasses provide ----------------------------------------------------------------------

    def build_request(self, params: Any, target: Any) -> dict:
        """This processor's request builder (``request/sklearn.py`` or ``request/spark.py``)."""
        raise NotImplementedError

    def local_files(self) -> dict[str, str | list[str] | None]:
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
        self._started = time.time()
        self._cache_rule  # noqa: B018 - a bad cache_config fails here, before anything runs
        self._check_local_files()
        backend = self.hook.backend
        job_name, description = self._attach_or_create(backend, context)
        urls = backend.console_urls(job_name)
        ProcessingJobLink.persist(context, self, urls["job"])
        ProcessingLogsLink.persist(context, self, urls["logs"])
        persist_job_name(context, self, job_name)
        self.log.info("Processing job %s: %s (logs: %s)", job_name, urls["job"], urls["logs"])
        from sagemaker_processing_provider.backends.base import TERMINAL

        if description["ProcessingJobStatus"] not in TERMINAL:
            if not self.wait_for_completion:
                self.log.info("wait_for_completion=False: not waiting for %s", job_name)
                return self._result(backend, description)
            if self.deferrable:
                self._defer(backend, job_name)
            description = self._wait(backend, job_name)
        return self._finish(backend, description)

    def _names(self, context: Context) -> attach.Names:
        from sagemaker_processing_provider.operators import attach

        base = self.base_job_name or self.default_base_job_name  # type: ignore[attr-defined]
        return attach.job_names(context, base, self.hook.namespace)

    def _attach_or_create(self, backend: ProcessingBackend, context: Context) -> tuple[str, dict]:
        from sagemaker_processing_provider.backends import watch
        from sagemaker_processing_provider.operators import attach, caching

        names, try_number = self._names(context), int(context["ti"].try_number)
        found = attach.earlier_job(backend, names, try_number, self.reuse_completed_job, self.log)
        if found:
            self._job_name = found[0]
            return found
        job_name = names(try_number)
        request, stager = self._request(backend, job_name)
        backend.validate(request)  # a request the service would refuse is neither looked up nor uploaded
        rule = self._cache_rule
        if rule.enabled:
            self._cache_key, hit = caching.lookup(backend, request, stager, rule, self.log)
            if hit is not None:
                self._cache_hit = True
                return hit["ProcessingJobName"], hit
            if self._cache_key:
                caching.tag_request(request, self._cache_key)  # our own tag: valid by construction
        stager.upload()
        self._job_name = job_name  # from here on, on_kill can stop it
        self.log.info(
            "Creating processing job %s (image %s)", job_name, request["AppSpecification"]["ImageUri"]
        )
        backend.create(request)
        return job_name, watch.describe(backend, job_name, self.log) or {"ProcessingJobStatus": "InProgress"}

    @cached_property
    def _cache_rule(self) -> caching.CachePolicy:
        from sagemaker_processing_provider.operators import caching

        return caching.policy(self.cache_config)  # type: ignore[attr-defined]

    def _request(self, backend: ProcessingBackend, job_name: str) -> tuple[dict, Any]:
        """Build (the stager only plans): the caller validates, then uploads, so nothing is uploaded
        for a request the service would refuse, or that a cache hit makes unnecessary."""
        from sagemaker_processing_provider.request.stager import BuildTarget

        params = signature.values(self, self.job_params)
        params = dataclasses.replace(params, role=backend.resolve_role(params.role))
        stager = backend.stager(params.code_location, params.output_kms_key)
        target = BuildTarget(job_name, backend.region, stager, backend.default_output_prefix(stager))
        return self.build_request(params, target), stager

    def _check_local_files(self) -> None:
        """Fail before any job starts when a local code/dependency file named by a parameter is missing."""
        from sagemaker_processing_provider.errors import RequestError

        for field, value in self.local_files().items():
            for path in [value] if isinstance(value, str) else value or []:
                parsed = urlparse(str(path))
                if parsed.scheme not in ("", "file"):
                    continue
                local = Path(parsed.path if parsed.scheme == "file" else str(path)).expanduser()
                if not local.exists():
                    raise RequestError(field, f"local path {str(local)!r} does not exist")

    # -- wait -----------------------------------------------------------------------------------------

    def _interval(self, backend: ProcessingBackend) -> float:
        return float(self.check_interval) if self.check_interval is not None else backend.poll_interval

    def _first_interval(self, backend: ProcessingBackend) -> float:
        """An explicit ``check_interval`` is kept from the start; the default ramps up (see backends)."""
        return float(self.check_interval) if self.check_interval is not None else backend.first_poll_interval

    def _wait(self, backend: ProcessingBackend, job_name: str) -> dict:
        """Poll until the job ends. Errors fail the task but leave the job running (a retry reattaches);
        only a kill or a timeout (``BaseException``: ``AirflowTaskTimeout``, SIGTERM) stops it."""
        from sagemaker_processing_provider.backends import watch
        from sagemaker_processing_provider.backends.base import TERMINAL

        watcher = watch.JobWatcher(
            backend,
            job_name,
            interval=self._interval(backend),
            first_interval=self._first_interval(backend),
            log=self.log,
            print_log=self.print_log,
        )
        try:
            while True:
                description = watcher.poll()
                if description and description["ProcessingJobStatus"] in TERMINAL:
                    watcher.copy_log()
                    return description
                backend.wait_for_change(job_name, watcher.delay)
        except Exception:
            raise
        except BaseException:
            self.log.error("Interrupted while waiting for processing job %s: stopping it", job_name)
            self._stop(backend, job_name)
            raise

    def _stop(self, backend: ProcessingBackend, job_name: str) -> None:
        try:
            backend.stop_if_running(job_name)
        except Exception:
            self.log.exception("Could not stop processing job %s; it may still be running", job_name)

    def _defer(self, backend: ProcessingBackend, job_name: str) -> None:
        from sagemaker_processing_provider.triggers.processing import ProcessingJobTrigger

        timeout_at = timeout = None
        if self.execution_timeout:
            timeout_at = self._started + self.execution_timeout.total_seconds()
            timeout = max(1.0, timeout_at - time.time()) + DEFERRAL_GRACE_SECONDS
        self.log.info("Deferring: the triggerer waits for %s", job_name)
        self.defer(
            trigger=ProcessingJobTrigger(
                job_name=job_name,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                poll_interval=self._interval(backend),
                first_poll_interval=self._first_interval(backend),
                verify=self.verify,
                botocore_config=self.botocore_config,
                timeout_at=timeout_at,
                print_log=self.print_log,
            ),
            method_name="execute_complete",
            timeout=timeout,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: relies only on the event and a fresh describe (any worker may run it)."""
        from sagemaker_processing_provider.backends import watch
        from sagemaker_processing_provider.errors import ProcessingError

        job_name = event.get("job_name")
        self._job_name = job_name
        if event.get("status") == "timeout":
            from airflow.sdk.exceptions import AirflowTaskTimeout

            raise AirflowTaskTimeout(
                f"execution_timeout ({self.execution_timeout}) reached: processing job {job_name} was stopped"
            )
        if not job_name or event.get("status") == "error":
            raise ProcessingError(
                f"Waiting for processing job {job_name} failed: {event.get('message', event)}"
            )
        backend = self.hook.backend
        description = watch.describe(backend, job_name, self.log)
        if description is None:
            raise ProcessingError(f"Processing job {job_name} does not exist (any more)")
        return self._finish(backend, description)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context):
        """Airflow's own deferral timeout (the triggerer was down, say) stops the job too, then fails."""
        from airflow.sdk.exceptions import TaskDeferralError, TaskDeferralTimeout

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except (TaskDeferralError, TaskDeferralTimeout):
            from sagemaker_processing_provider.operators import attach

            backend = self.hook.backend
            names, try_number = self._names(context), int(context["ti"].try_number)
            job_name = attach.running_job(backend, names, try_number, self.log)
            if job_name:
                self.log.error("The deferral failed or timed out: stopping processing job %s", job_name)
                self._stop(backend, job_name)
            raise

    # -- results --------------------------------------------------------------------------------------

    def _finish(self, backend: ProcessingBackend, description: dict) -> dict[str, Any]:
        from sagemaker_processing_provider.backends.base import FAILED
        from sagemaker_processing_provider.errors import ProcessingJobFailed
        from sagemaker_processing_provider.operators import caching

        job_name, status = description["ProcessingJobName"], description["ProcessingJobStatus"]
        if status in FAILED:
            reason = description.get("FailureReason")
            if not reason and status == "Stopped":
                reason = (
                    "no reason given: the job was stopped (StopProcessingJob: a user, a kill or a timeout)"
                )
            raise ProcessingJobFailed(job_name, status, reason, description.get("ExitMessage"))
        self._description = description
        result = self._result(backend, description)
        if self._cache_key:
            result["cache_key"] = self._cache_key
        if self._cache_hit:
            result["cached_job"] = job_name
            self.log.info("Step cache hit: the result of processing job %s is returned", job_name)
        elif self._cache_rule.enabled:
            caching.record_outputs(backend, description, self.log)
        self.log.info("Processing job %s %s; outputs: %s", job_name, status, result["outputs"])
        return result

    def _result(self, backend: ProcessingBackend, description: dict) -> dict[str, Any]:
        from sagemaker_processing_provider.operators.lineage import job_channels

        inputs, outputs = job_channels(description)
        return {
            "job_name": description["ProcessingJobName"],
            "status": description["ProcessingJobStatus"],
            "arn": description.get("ProcessingJobArn"),
            "backend": backend.name,
            "outputs": outputs,
            "inputs": inputs,
            "cache_hit": self._cache_hit,
            "Processing": json_safe(description),
        }

    def on_kill(self) -> None:
        if self._job_name:
            self._stop(self.hook.backend, self._job_name)

    def get_openlineage_facets_on_complete(self, task_instance):
        """The job's data inputs and outputs as OpenLineage datasets; ``None`` without OpenLineage."""
        from sagemaker_processing_provider.operators.lineage import lineage_facets

        return lineage_facets(self._description)


def json_safe(description: dict) -> dict:
    """The describe answer as plain JSON (times in ISO 8601), without botocore's ``ResponseMetadata``."""
    body = {k: v for k, v in description.items() if k != "ResponseMetadata"}
    return json.loads(
        json.dumps(body, default=lambda o: o.isoformat() if hasattr(o, "isoformat") else str(o))
    )
