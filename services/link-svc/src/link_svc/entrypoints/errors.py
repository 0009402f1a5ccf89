"""The one place link-svc's errors become HTTP statuses, in the shared `{"error": {...}}` shape."""

from collections.abc import Callable

import structlog
from bankstream_common.http_auth import install_auth_errors
from bankstream_common.http_errors import error_response
from fastapi import FastAPI, Request
from starlette.responses import Response

from ..domain import errors as e

log = structlog.get_logger(__name__)

CLIENT_PLAID_ERRORS = frozenset({"INVALID_INPUT", "INVALID_REQUEST", "ITEM_ERROR", "INSTITUTION_ERROR"})


def to_response(exc: e.LinkServiceError) -> Response:
    match exc:
        case e.ItemNotFound():
            return error_response(404, "item_not_found", str(exc))
        case e.ItemGone():
            return error_response(410, "item_removed", str(exc))
        case e.DuplicateItem():
            return error_response(409, "duplicate_item", str(exc), existing_item_id=exc.existing_item_id)
        case e.ItemAlreadyLinked():
            return error_response(409, "item_already_linked", str(exc), existing_item_id=exc.existing_item_id)
        case e.ItemSetupPending():
            response = error_response(
                503, "item_setup_pending", str(exc), item_id=exc.item_id, plaid_error_code=exc.error_code
            )
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        case e.InvalidRequest():
            return error_response(400, "invalid_request", str(exc))
        case e.WebhookRejected():
            return error_response(401, "webhook_rejected", "the webhook does not verify")
        case e.VaultError():
            log.error("vault error", error=str(exc))
            return error_response(500, "vault_error", "the token vault cannot open this item's token")
        case e.ExchangeOutcomeUnknown():
            return error_response(502, "exchange_outcome_unknown", str(exc), **_plaid_fields(exc))
        case e.PlaidUnavailable():
            response = error_response(503, "plaid_unavailable", str(exc), **_plaid_fields(exc))
            response.headers["Retry-After"] = "5"
            return response
        case e.PlaidRequestFailed() if exc.error_type in CLIENT_PLAID_ERRORS:
            return error_response(400, "plaid_error", str(exc), **_plaid_fields(exc))
        case e.PlaidError():
            return error_response(502, "plaid_error", str(exc), **_plaid_fields(exc))
    return error_response(500, "internal_error", "unexpected error")


def _plaid_fields(exc: e.PlaidError) -> dict[str, str | None]:
    return {
        "plaid_error_type": exc.error_type,
        "plaid_error_code": exc.error_code,
        "plaid_request_id": exc.request_id,
        "display_message": exc.display_message,
    }


def install(app: FastAPI, on_auth_failure: Callable[[str], None]) -> None:
    async def handle(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, e.LinkServiceError)
        return to_response(exc)

    app.add_exception_handler(e.LinkServiceError, handle)
    install_auth_errors(app, on_auth_failure)
