"""The one place ledger-api's errors become HTTP statuses, in the shared `{"error": {...}}` shape.

404  <entity>_not_found      no such transaction / account / Item, or not the caller's
422  validation_error        a parameter or body field of the wrong type, out of range, or unknown
422  invalid_parameter       a value the types allow but the API refuses (inverted range, unknown category)
400  invalid_cursor          a cursor that is not ours, or was issued for other filters or another sort
409  transaction_superseded  `successor_id` names the posted transaction to edit instead
409  transaction_removed     a removed transaction takes no edits
410  item_removed            the Item was removed
412  precondition_failed     If-Match names a stale ETag (the current one is in the ETag header)
429  rate_limited            Retry-After says when to ask again
503  too_many_streams        every SSE slot of this process is taken (Retry-After)
"""

import math
from collections.abc import Callable

from bankstream_common.http_auth import install_auth_errors
from bankstream_common.http_errors import error_response
from fastapi import FastAPI, Request
from starlette.responses import Response

from ..domain import errors as e


def to_response(exc: e.LedgerError) -> Response:
    match exc:
        case e.NotFound():
            return error_response(404, f"{exc.kind}_not_found", str(exc))
        case e.InvalidQuery():
            return error_response(422, "invalid_parameter", str(exc), parameter=exc.field)
        case e.InvalidCursor():
            return error_response(400, "invalid_cursor", str(exc))
        case e.StaleEdit():
            response = error_response(412, "precondition_failed", str(exc))
            response.headers["ETag"] = exc.current_etag
            return response
        case e.TransactionSuperseded():
            return error_response(409, "transaction_superseded", str(exc), successor_id=exc.successor_id)
        case e.TransactionRemoved():
            return error_response(409, "transaction_removed", str(exc))
        case e.ItemGone():
            return error_response(410, "item_removed", str(exc))
        case e.RateLimited():
            response = error_response(429, "rate_limited", str(exc))
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
            return response
        case e.TooManyStreams():
            response = error_response(503, "too_many_streams", str(exc))
            response.headers["Retry-After"] = "1"
            return response
    return error_response(500, "internal_error", "unexpected error")


def install(app: FastAPI, on_auth_failure: Callable[[str], None]) -> None:
    async def handle(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, e.LedgerError)
        return to_response(exc)

    app.add_exception_handler(e.LedgerError, handle)
    install_auth_errors(app, on_auth_failure)
