"""``ProcessingJobTrigger``: waits for a processing job in the triggerer, for both backends.

It polls ``describe_processing_job`` in a thread (boto3 and the local backend are synchronous), copies
the job's new log lines into the triggerer's log (which Airflow shows in the task log), and fires
one event at a terminal status. Its kwargs are plain JSON, so a triggerer restart rebuilds it from
``serialize()`` and carries on from the saved log cursor.

Stopping the job: only when the user acts on the deferred task (mark failed / success, clear).
Airflow 3.3+ calls ``on_kill()`` for exactly that case and cancels the trigger *without* calling it on
a triggerer restart, redistribution or trigger timeout, so a rolling deploy never stops a job. On
older Airflow (no ``BaseTrigger.on_kill``) the cancellation handler asks for the task's state, as
the Amazon provider's EMR Serverless trigger does: still ``deferred`` means a restart, so no stop.

Timeout: ``timeout_at`` (epoch seconds, from the task's ``execution_timeout``) is checked at every
poll; when it passes, the trigger stops the job itself and fires ``{"status": "timeout"}``, so a
deferred task's timeout stops the job as a running task's does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from sagemaker_processing_provider.backends.base import TERMINAL

_USER_ACTION_CANCEL_MSG = "__airflow_user_action__"
_HAS_ON_KILL = "on_kill" in vars(BaseTrigger)


class ProcessingJobTrigger(BaseTrigger):
    """Fire ``{"status", "job_name", "failure_reason", "exit_message", "log_cursor"}`` when the job ends.

    :param job_name: the processing job to wait for.
    :param aws_conn_id: connection that chose the backend (see ``ProcessingHook``).
    :param region_name: AWS region override.
    :param poll_interval: seconds between two ``describe`` calls.
    :param log_offset: log cursor to continue from (what the worker already printed).
    :param stop_on_kill: stop the job when the user kills the deferred task.
    :param verify: SSL verification for AWS calls.
    :param botocore_config: botocore ``Config`` parameters.
    :param timeout_at: epoch seconds after which the job is stopped and ``timeout`` fired.
    :param print_log: copy the job's log lines into the triggerer's (the task's) log.
    :param first_poll_interval: the first wait, doubling up to ``poll_interval``.
    """

    def __init__(
        self,
        job_name: str,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        poll_interval: float = 30,
        log_offset: Any = None,
        stop_on_kill: bool = True,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        timeout_at: float | None = None,
        print_log: bool = True,
        first_poll_interval: float | None = None,
    ) -> None:
        super().__init__()
        self.job_name = job_name
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.poll_interval = poll_interval
        self.log_offset = log_offset
        self.stop_on_kill = stop_on_kill
        self.verify = verify
        self.botocore_config = botocore_config
        self.timeout_at = timeout_at
        self.print_log = print_log
        self.first_poll_interval = first_poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        return (
            f"{cls.__module__}.{cls.__qualname__}",
            {
                "job_name": self.job_name,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "poll_interval": self.poll_interval,
                "log_offset": self.log_offset,
                "stop_on_kill": self.stop_on_kill,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
                "timeout_at": self.timeout_at,
                "print_log": self.print_log,
                "first_poll_interval": self.first_poll_interval,
            },
        )

    def backend(self):
        from sagemaker_processing_provider.hooks.processing import ProcessingHook

        return ProcessingHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
        ).backend

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            payload = await self._wait_for_end()
        except asyncio.CancelledError as exc:
            user_action = bool(exc.args) and exc.args[0] == _USER_ACTION_CANCEL_MSG
            if not _HAS_ON_KILL and not user_action and await self._task_left_deferred_state():
                await self.on_kill()
            else:
                self.log.info("Trigger for %s cancelled; the job keeps running", self.job_name)
            raise
        yield TriggerEvent(payload)  # outside the try: a cancel after the event is no kill

    async def _wait_for_end(self) -> dict[str, Any]:
        from sagemaker_processing_provider.backends.watch import JobWatcher

        backend = self.backend()
        watcher = JobWatcher(
            backend,
            self.job_name,
            interval=self.poll_interval,
            first_interval=self.first_poll_interval,
            log=self.log,
            print_log=self.print_log,
            log_cursor=self.log_offset,
        )
        event = {"job_name": self.job_name}
        while True:
            try:
                description = await asyncio.to_thread(watcher.poll)
            except Exception as exc:  # an unknown job, refused credentials: the wait cannot go on
                return {**event, "status": "error", "message": str(exc), "log_cursor": watcher.log_cursor}
            self.log_offset = watcher.log_cursor
            status = description and description["ProcessingJobStatus"]
            if status in TERMINAL:
                await asyncio.to_thread(watcher.copy_log)  # lines flushed as the job ended
                return {
                    **event,
                    "status": status,
                    "failure_reason": description.get("FailureReason"),
                    "exit_message": description.get("ExitMessage"),
                    "log_cursor": watcher.log_cursor,
                }
            if self.timeout_at is not None and time.time() >= self.timeout_at:
                self.log.error("Timeout: stopping processing job %s", self.job_name)
                await asyncio.to_thread(backend.stop_if_running, self.job_name)
                return {**event, "status": "timeout", "log_cursor": watcher.log_cursor}
            if status:
                self.log.info("Processing job %s is %s", self.job_name, status)
            delay = watcher.delay
            if self.timeout_at is not None:
                delay = max(0.0, min(delay, self.timeout_at - time.time()))
            await asyncio.sleep(delay)

    async def on_kill(self) -> None:
        """Stop the job: the user acted on the deferred task (Airflow 3.3+ calls this only then)."""
        if not self.stop_on_kill:
            return
        try:
            await asyncio.to_thread(self.backend().stop_if_running, self.job_name)
        except Exception:
            self.log.exception("Could not stop processing job %s; it may still be running", self.job_name)

    async def _task_left_deferred_state(self) -> bool:
        """Pre-3.3 fallback: a cancelled trigger whose task is no longer deferred was killed by a user."""
        ti = self.task_instance
        if ti is None:
            return False
        try:
            from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

            states = await asyncio.to_thread(
                RuntimeTaskInstance.get_task_states,
                dag_id=ti.dag_id,
                task_ids=[ti.task_id],
                run_ids=[ti.run_id],
                map_index=ti.map_index,
            )
            return states[ti.run_id][ti.task_id] != "deferred"
        except Exception as exc:
            self.log.warning(
                "Cannot tell a kill from a restart (%s); leaving job %s running", exc, self.job_name
            )
            return False
