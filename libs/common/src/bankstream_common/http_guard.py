"""The guard in front of every service's routes: work an unauthenticated caller can cause stays bounded.

A pure ASGI middleware, outermost after the request context, that before any route runs:
- refuses a body over the limit with 413: at once from `Content-Length`, or as soon as a streamed body
  passes the limit (the route sees an error instead of more bytes); `body_limits` maps a path prefix to its
  own limit (the longest matching prefix wins);
- refuses an `Authorization` header over `MAX_AUTHORIZATION_BYTES` with 401 before anything parses it;
- refuses a NUL character in the path or the query string with 422 (PostgreSQL cannot store it);
and on every answer adds `X-Content-Type-Options: nosniff`, and `Cache-Control: no-store` to answers to
requests that carried credentials (unless the route chose its own Cache-Control).
"""

from collections.abc import Mapping
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http_errors import error_response

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_AUTHORIZATION_BYTES = 8 * 1024


class BodyTooLarge(HTTPException):
    """Raised into the route when a streamed body passes its limit (an HTTPException, so FastAPI's body
    parsing lets it through as the 413 it is)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is over {limit} bytes")


class HttpGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        body_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_limits = sorted((body_limits or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.body_limits:
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        limit = self.limit_for(scope["path"])
        refusal = _refusal(scope, headers, limit)
        if refusal is not None:
            status, code, message = refusal
            response = error_response(status, code, message)
            if status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, _hardened(send, credentials=False))
            return

        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        credentials = b"authorization" in headers
        try:
            await self.app(scope, bounded_receive, _hardened(tracking_send, credentials=credentials))
        except BodyTooLarge as exc:
            if started:
                raise
            await error_response(413, "too_large", exc.detail)(
                scope, receive, _hardened(send, credentials=False)
            )


def _refusal(scope: Scope, headers: Mapping[bytes, bytes], limit: int) -> tuple[int, str, str] | None:
    declared = headers.get(b"content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            return 400, "bad_request", "Content-Length is not a number"
        if length > limit:
            return 413, "too_large", f"the body is over {limit} bytes"
    authorization = headers.get(b"authorization")
    if authorization is not None and len(authorization) > MAX_AUTHORIZATION_BYTES:
        return 401, "unauthenticated", f"the Authorization header is over {MAX_AUTHORIZATION_BYTES} bytes"
    raw_path = scope.get("raw_path") or scope["path"].encode()
    if b"\x00" in unquote_to_bytes(raw_path) or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
        return 422, "validation_error", "the path or query string contains a NUL character"
    return None


def _hardened(send: Send, *, credentials: bool) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {name.lower() for name, _ in headers}
            headers.append((b"x-content-type-options", b"nosniff"))
            if credentials and b"cache-control" not in names:
                headers.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped
