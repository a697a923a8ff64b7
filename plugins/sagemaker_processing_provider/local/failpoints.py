"""Named crash points for the fault-injection tests (``tests/chaos``): off unless the variable is set.

``SM_PROCESSING_FAILPOINT=publish-move:3,create-renamed`` makes the process that reaches one of these
points (the 3rd time for ``:3``) kill itself with SIGKILL, as a crash or an operator's ``kill -9``
would at that exact moment; ``@stop`` (``publish-move:3@stop``) stops it instead (SIGSTOP), as a
blocked process, until the test continues it. The job's own environment never carries the variable.
"""

from __future__ import annotations

import os
import signal

ENV = "SM_PROCESSING_FAILPOINT"


def hit(name: str, count: int | None = None) -> None:
    """Die (or stop) here if ``name`` (or ``name:count``) is armed."""
    armed = os.environ.get(ENV)
    if not armed:
        return
    for point in armed.split(","):
        spec, _, action = point.strip().partition("@")
        wanted, _, n = spec.partition(":")
        if wanted == name and (not n or (count is not None and int(n) == count)):
            os.kill(os.getpid(), signal.SIGSTOP if action == "stop" else signal.SIGKILL)
