"""The per-request plumbing of every HTTP server: request id, one canonical access line, HTTP metrics.

A pure ASGI middleware (no BaseHTTPMiddleware: it keeps contextvars and streaming intact). The route
label is the matched route's template (`/items/{item_id}`), `unmatched` when none matched, never the
raw path. Headers and bodies are never logged. An unhandled error is logged once, here (so the line
carries the request id), and answered 500 `internal_error` when no response has started.
"""

import logging
import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http_errors import error_response
from .metrics import HttpMetrics

REQUEST_ID_HEADER = "x-request-id"
PROBE_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

log = structlog.get_logger("bankstream.http")


def request_id_from(scope: Scope) -> str:
    """The caller's X-Request-ID when it is sane, else a fresh one."""
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            candidate = bytes(value).decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path: object = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        status = 500
        response_started = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("unhandled error", method=scope["method"], route=route_template(scope))
                if response_started:
                    raise
                await error_response(500, "internal_error", "internal error")(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                method, route = scope["method"], route_template(scope)
                self.metrics.observe(method, route, status, seconds)
                quiet = route in PROBE_ROUTES and status < 500
                log.log(
                    logging.DEBUG if quiet else logging.INFO,
                    "http request",
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round(seconds * 1000, 2),
                )
