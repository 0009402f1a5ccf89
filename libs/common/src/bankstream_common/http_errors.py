"""The one error shape of every service's HTTP API: `{"error": {"code": "...", "message": "..."}}`.

`code` is a stable snake_case word (`not_found`, `validation_error`, `internal_error`, or a service's own);
`message` is for people. A 422 adds `details` (where and why, never the offending input: it may be a
secret). Services raise their own errors and map them to this shape in their entrypoints.
"""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from .redaction import redact_text


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def status_code_name(status: int) -> str:
    """404 -> `not_found`; unknown statuses -> `http_<status>`."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return f"http_{status}"


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else status_code_name(exc.status_code)
    response = error_response(exc.status_code, status_code_name(exc.status_code), redact_text(message))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": ".".join(str(p) for p in e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type")}
        for e in exc.errors()
    ]
    return error_response(422, "validation_error", "the request is invalid", details=details)


def install_error_handlers(app: FastAPI) -> None:
    """HTTP errors and validation errors in the shared shape (unhandled errors: see http_context)."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
