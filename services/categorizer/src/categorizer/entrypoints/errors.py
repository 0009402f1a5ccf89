"""The one place categorizer's errors become HTTP statuses, in the shared `{"error": {...}}` shape."""

from collections.abc import Callable

from bankstream_common.http_auth import install_auth_errors
from bankstream_common.http_errors import error_response
from fastapi import FastAPI, Request
from starlette.responses import Response

from ..domain import errors as e


def to_response(exc: e.CategorizerError) -> Response:
    match exc:
        case e.RuleInvalid():
            return error_response(422, "invalid_rule", str(exc))
        case e.RuleNotFound():
            return error_response(404, "rule_not_found", str(exc))
        case e.JobNotFound():
            return error_response(404, "job_not_found", str(exc))
    return error_response(500, "internal_error", "unexpected error")


def install(app: FastAPI, on_auth_failure: Callable[[str], None]) -> None:
    async def handle(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, e.CategorizerError)
        return to_response(exc)

    app.add_exception_handler(e.CategorizerError, handle)
    install_auth_errors(app, on_auth_failure)
