"""Describing a job patiently: ``JobWatcher`` (the operator's wait and the trigger) and ``describe``.

A transient describe error (throttling, a 5xx, a dropped connection) never fails a wait and never
stops a job: it is logged and retried with exponential backoff (jittered, capped at 60 s); only after
``give_up_after`` seconds of nothing but errors is it raised, and even then the job keeps running (a
retry of the task reattaches). ``JobWatcher.poll()`` never sleeps (the trigger is async): it says how
long to wait in ``delay``. ``describe()`` is the blocking one-shot form for the operator's own calls.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from sagemaker_processing_provider.backends.base import ProcessingBackend, is_transient
from sagemaker_processing_provider.errors import ProcessingError

MAX_BACKOFF_SECONDS = 60.0
GIVE_UP_AFTER_SECONDS = 900.0


def backoff(interval: float, failures: int) -> float:
    """Seconds before try ``failures + 1``: exponential from ``interval``, capped, with jitter."""
    return min(MAX_BACKOFF_SECONDS, max(interval, 0.5) * 2 ** (failures - 1)) * random.uniform(0.8, 1.2)


def _gave_up(job_name: str, seconds: float, failures: int, exc: Exception) -> ProcessingError:
    return ProcessingError(
        f"Could not describe processing job {job_name} for {seconds:.0f} s ({failures} tries; last "
        f"error: {exc}); the job was NOT stopped and a retry of this task reattaches to it"
    )


def describe(
    backend: ProcessingBackend,
    job_name: str,
    log: logging.Logger | Any,
    *,
    interval: float = 1.0,
    give_up_after: float = GIVE_UP_AFTER_SECONDS,
) -> dict | None:
    """``backend.describe`` with transient errors retried (blocking); ``None``: no such job."""
    started, failures = time.monotonic(), 0
    while True:
        try:
            return backend.describe(job_name)
        except Exception as exc:
            if not is_transient(exc):
                raise
            failures += 1
            if time.monotonic() - started > give_up_after:
                raise _gave_up(job_name, give_up_after, failures, exc) from exc
            delay = backoff(interval, failures)
            log.warning("Describing processing job %s failed (%s); retrying in %.1f s", job_name, exc, delay)
            time.sleep(delay)


class JobWatcher:
    """Polls ``job_name`` on ``backend``; ``delay`` is how long to wait before the next ``poll()``."""

    def __init__(
        self,
        backend: ProcessingBackend,
        job_name: str,
        *,
        interval: float,
        log: logging.Logger | Any,
        first_interval: float | None = None,
        print_log: bool = True,
        log_cursor: Any = None,
        give_up_after: float = GIVE_UP_AFTER_SECONDS,
    ) -> None:
        self.backend, self.job_name, self.interval = backend, job_name, interval
        self.log, self.print_log, self.log_cursor = log, print_log, log_cursor
        self.give_up_after = give_up_after
        self._ramp = min(interval, first_interval or interval)  # doubles up to interval
        self.delay = self._ramp
        self._failing_since: float | None = None
        self._failures = 0

    def poll(self) -> dict | None:
        """The job's description, or ``None`` after a transient error (then ``delay`` is a backoff)."""
        try:
            description = self.backend.describe(self.job_name)
        except Exception as exc:
            if not is_transient(exc):
                raise
            return self._backoff(exc)
        if description is None:
            raise ProcessingError(f"Processing job {self.job_name} does not exist (any more)")
        self._failing_since, self._failures = None, 0
        self.delay, self._ramp = self._ramp, min(self.interval, self._ramp * 2)
        self.copy_log()
        return description

    def _backoff(self, exc: Exception) -> None:
        now = time.monotonic()
        self._failing_since = self._failing_since or now
        self._failures += 1
        if now - self._failing_since > self.give_up_after:
            raise _gave_up(self.job_name, self.give_up_after, self._failures, exc) from exc
        self.delay = backoff(self.interval, self._failures)  # jitter: many tasks throttled at once
        self.log.warning(
            "Describing processing job %s failed (%s); the job keeps running, retrying in %.1f s",
            self.job_name,
            exc,
            self.delay,
        )
        return None

    def copy_log(self) -> None:
        """Copy the job's new log lines into our log (best effort: a log error never fails the wait)."""
        if not self.print_log:
            return
        try:
            lines, self.log_cursor = self.backend.log_events(self.job_name, self.log_cursor)
        except Exception as exc:
            self.log.warning("Could not read the log of %s: %s", self.job_name, exc)
            return
        for line in lines:
            self.log.info("[job] %s", line)
