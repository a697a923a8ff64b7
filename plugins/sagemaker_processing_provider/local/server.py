"""``sm-processing serve``: the local backend over HTTP, in SageMaker's JSON 1.1 protocol.

Every call is ``POST`` with ``X-Amz-Target: SageMaker.<Operation>`` (Create/Describe/Stop/List
ProcessingJob(s)) or ``Logs_20140328.<Operation>`` (DescribeLogStreams, GetLogEvents: see
server_logs.py), routed on that header and never on the path, so boto3, the AWS CLI, the SageMaker SDK
and the Amazon provider reach it with nothing but an endpoint URL. SigV4 signatures are accepted and
not checked. Requests are checked against botocore's service model (as AWS checks them) before the
backend sees them; timestamps travel as epoch seconds (JSON 1.1 ``unixTimestamp``) both ways.

Errors have AWS's shapes: HTTP 400 ``{"__type": code, "message": ...}`` for what the caller can fix
(the backend's own codes pass through: ValidationException, ResourceInUse, ResourceNotFound, ...),
HTTP 500 ``InternalFailure`` for the rest, whose traceback goes to this server's log only.

Why the standard library's ``ThreadingHTTPServer``: a local endpoint for a few clients needs no
framework; every call is short (a job runs in its own detached runner), and it keeps the dependency
list as it is.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError
from botocore.utils import parse_timestamp

from sagemaker_processing_provider.api.client_errors import SageMakerClientError
from sagemaker_processing_provider.api.validation import check_model_limits
from sagemaker_processing_provider.errors import RequestError
from sagemaker_processing_provider.local.server_logs import LogsView

log = logging.getLogger("sagemaker_processing_provider.serve")

CONTENT_TYPE = "application/x-amz-json-1.1"
SHUTDOWN_GRACE_SECONDS = 10  # how long a stop waits for calls in flight
MUTATIONS = frozenset({"CreateProcessingJob", "StopProcessingJob"})  # logged at INFO; reads at DEBUG


class ApiError(Exception):
    """An answer in AWS's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Service:
    """One X-Amz-Target prefix: its botocore model, its code for bad requests, its operations."""

    model: str
    invalid_code: str
    operations: dict[str, Callable[..., dict[str, Any]]]


@cache
def _input_shape(model: str, operation: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(model).operation_model(operation).input_shape


def from_wire(value: Any, shape: Any) -> Any:
    """A JSON 1.1 request value as boto3 callers pass it in process (timestamps -> datetime)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: from_wire(v, shape.members[k]) if k in shape.members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [from_wire(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: from_wire(v, shape.value) for k, v in value.items()}
    if kind == "timestamp" and isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            return parse_timestamp(value)
        except (ValueError, TypeError, OverflowError):
            return value  # left for validation to reject, naming the field
    return value


def to_wire(answer: dict[str, Any]) -> bytes:
    """A backend answer as a JSON 1.1 body: no ResponseMetadata, datetimes as epoch seconds."""
    body = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    return json.dumps(body, default=lambda o: o.timestamp() if isinstance(o, datetime) else str(o)).encode()


class Api:
    """Routes an X-Amz-Target to the backend (SageMaker) or the logs view (CloudWatch Logs)."""

    def __init__(self, backend: Any, logs: LogsView | None = None) -> None:
        logs = logs or LogsView(backend)
        self.services = {
            "SageMaker": Service(
                "sagemaker",
                "ValidationException",
                {
                    "CreateProcessingJob": backend.create_processing_job,
                    "DescribeProcessingJob": backend.describe_processing_job,
                    "StopProcessingJob": backend.stop_processing_job,
                    "ListProcessingJobs": backend.list_processing_jobs,
                    "AddTags": backend.add_tags,  # step caching finds earlier jobs by their tags
                    "ListTags": backend.list_tags,
                },
            ),
            "Logs_20140328": Service(
                "logs",
                "InvalidParameterException",
                {"DescribeLogStreams": logs.describe_log_streams, "GetLogEvents": logs.get_log_events},
            ),
        }

    def targets(self) -> list[str]:
        return [f"{prefix}.{op}" for prefix, service in self.services.items() for op in service.operations]

    def call(self, target: str, body: bytes) -> dict[str, Any]:
        prefix, _, operation = target.partition(".")
        service = self.services.get(prefix)
        function = service.operations.get(operation) if service else None
        if service is None or function is None:
            raise ApiError(
                400,
                "UnknownOperationException",
                f"Unknown operation {target!r} (X-Amz-Target); this endpoint serves {', '.join(self.targets())}",
            )
        params = _parse(body)
        shape = _input_shape(service.model, operation)
        try:
            params = from_wire(params, shape)
            _validate(params, shape, operation)
            return function(**params)
        except ParamValidationError as exc:
            raise ApiError(400, service.invalid_code, str(exc)) from exc
        except SageMakerClientError as exc:
            if service.model == "sagemaker":
                raise
            raise ApiError(400, service.invalid_code, exc.response["Error"]["Message"]) from exc


def _parse(body: bytes) -> dict[str, Any]:
    try:
        params = json.loads(body or b"{}")
    except ValueError as exc:
        raise ApiError(400, "SerializationException", f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise ApiError(400, "SerializationException", "The request body must be a JSON object")
    return params


def _validate(params: dict[str, Any], shape: Any, operation: str) -> None:
    """botocore's client-side check, then the model's limits AWS enforces server side."""
    from botocore.validate import validate_parameters

    validate_parameters(params, shape)
    check_model_limits(params, shape, "", operation)


def error_body(exc: BaseException, request_id: str) -> tuple[int, dict[str, str]]:
    """(status, body) of an error answer; unexpected errors are logged here, never sent to the client."""
    if isinstance(exc, ApiError):
        return exc.status, {"__type": exc.code, "message": exc.message}
    if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") != "InternalFailure":
        error = exc.response.get("Error", {})
        return 400, {"__type": error.get("Code", "ValidationException"), "message": error.get("Message", "")}
    if isinstance(exc, ParamValidationError | RequestError):
        return 400, {"__type": "ValidationException", "message": str(exc)}
    log.error("Request %s failed unexpectedly", request_id, exc_info=exc)
    return 500, {
        "__type": "InternalFailure",
        "message": f"The request processing has failed because of an unknown error (request id {request_id}); "
        "the sm-processing serve log has the details.",
    }


class Handler(BaseHTTPRequestHandler):
    """One JSON 1.1 call per POST; keep-alive (HTTP/1.1) as botocore's connection pool expects."""

    protocol_version = "HTTP/1.1"
    server_version = "sm-processing"
    server: Server

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        request_id = str(uuid.uuid4())
        target = self.headers.get("X-Amz-Target", "")
        started = time.monotonic()
        error: dict[str, str] | None = None
        with self.server.in_flight():
            try:
                status, payload = 200, to_wire(self.server.api.call(target, self._body()))
            except Exception as exc:
                status, error = error_body(exc, request_id)
                payload = json.dumps(error).encode()
            self._answer(status, payload, request_id, error)
        level = logging.INFO if error or target.partition(".")[2] in MUTATIONS else logging.DEBUG
        elapsed_ms = 1000 * (time.monotonic() - started)
        log.log(level, "%s -> %s (%.0f ms)", target or "(no X-Amz-Target)", status, elapsed_ms)

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # the unread chunks would corrupt the next request
            raise ApiError(400, "SerializationException", "Send the body with Content-Length, not chunked")
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:  # noqa: N802
        """Not an API call: a readiness probe that lists what is served."""
        payload = json.dumps(
            {"service": "sm-processing serve", "targets": self.server.api.targets()}
        ).encode()
        self._answer(200, payload, str(uuid.uuid4()), None)

    def _answer(self, status: int, payload: bytes, request_id: str, error: dict[str, str] | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", request_id)
        if error:
            self.send_header("x-amzn-ErrorType", error["__type"])
        self.end_headers()
        self.wfile.write(payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Every call is logged once, by ``do_POST``, with its target."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        log.warning("%s: %s", self.address_string(), format % args)  # malformed requests, timeouts


class Server(ThreadingHTTPServer):
    """Threads per connection; a stop lets the calls in flight finish (jobs run on, detached)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: Api) -> None:
        super().__init__(address, Handler)
        self.api = api
        self._busy = 0
        self._idle = threading.Condition()

    def in_flight(self) -> _InFlight:
        return _InFlight(self)

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)


class _InFlight:
    def __init__(self, server: Server) -> None:
        self.server = server

    def __enter__(self) -> None:
        with self.server._idle:
            self.server._busy += 1

    def __exit__(self, *exc: object) -> None:
        with self.server._idle:
            self.server._busy -= 1
            self.server._idle.notify_all()


def serve(backend: Any, host: str, port: int) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code."""
    server = Server((host, port), Api(backend))
    url = f"http://{host}:{server.server_port}"
    stopping: list[str] = []

    def stop(signum: int, _frame: Any) -> None:
        if not stopping:
            stopping.append(signal.Signals(signum).name)
            threading.Thread(target=server.shutdown, daemon=True).start()  # shutdown() waits for the loop

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    s3 = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "AWS's own endpoint"
    log.info("Jobs' s3:// data goes to %s (AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL)", s3)
    if host not in ("127.0.0.1", "localhost"):
        log.warning(
            "Listening on %s: anyone who can reach this port can run processes on this machine "
            "(CreateProcessingJob runs the request's entrypoint)",
            host,
        )
    print(f"sm-processing serve: listening on {url} (job store {backend.home})", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        drained = server.wait_idle(SHUTDOWN_GRACE_SECONDS)
        server.server_close()
    print(
        f"sm-processing serve: stopped ({stopping[0] if stopping else 'closed'}"
        f"{'' if drained else ', calls still in flight were cut'}); jobs keep running in their runners",
        file=sys.stderr,
        flush=True,
    )
    return 0
