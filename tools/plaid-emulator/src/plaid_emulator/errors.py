"""Plaid errors as the API returns them.

    PlaidApiError            one error, rendered as Plaid's `PlaidError` body with Plaid's HTTP status
      raised by auth, validation, faults, rate limits and the handlers; turned into a response only in app.py

`CATALOG` maps each error code the emulator can produce to Plaid's (status, error_type, message).
"""

from __future__ import annotations

from typing import Any

DOCS = "https://plaid.com/docs/errors/"

CATALOG: dict[str, tuple[int, str, str]] = {
    # INVALID_REQUEST
    "MISSING_FIELDS": (400, "INVALID_REQUEST", "the following required fields are missing: {detail}"),
    "INVALID_FIELD": (400, "INVALID_REQUEST", "{detail}"),
    "INVALID_BODY": (400, "INVALID_REQUEST", "body could not be parsed as JSON"),
    "NOT_FOUND": (404, "INVALID_REQUEST", "not found"),
    # INVALID_INPUT
    "INVALID_API_KEYS": (400, "INVALID_INPUT", "invalid client_id or secret provided"),
    "INVALID_ACCESS_TOKEN": (
        400,
        "INVALID_INPUT",
        "provided access token is in an invalid format or not found",
    ),
    "INVALID_PUBLIC_TOKEN": (
        400,
        "INVALID_INPUT",
        "provided public token is expired, already used or unknown",
    ),
    "INVALID_LINK_TOKEN": (400, "INVALID_INPUT", "provided link token is expired or unknown"),
    "INVALID_ACCOUNT_ID": (400, "INVALID_INPUT", "one or more of the account IDs is invalid"),
    "INVALID_INSTITUTION": (400, "INVALID_INPUT", "invalid institution_id provided"),
    "INVALID_PRODUCT": (400, "INVALID_INPUT", "{detail}"),
    "INVALID_WEBHOOK_VERIFICATION_KEY_ID": (400, "INVALID_INPUT", "invalid key_id provided"),
    # INSTITUTION_ERROR
    "INSTITUTION_DOWN": (
        400,
        "INSTITUTION_ERROR",
        "this institution is not currently responding to this request",
    ),
    "INSTITUTION_NOT_RESPONDING": (400, "INSTITUTION_ERROR", "this institution is not currently responding"),
    "INSTITUTION_NOT_AVAILABLE": (400, "INSTITUTION_ERROR", "this institution is not available"),
    "INSTITUTION_NO_LONGER_SUPPORTED": (400, "INSTITUTION_ERROR", "this institution is no longer supported"),
    # ITEM_ERROR
    "ITEM_LOGIN_REQUIRED": (
        400,
        "ITEM_ERROR",
        "the login details of this item have changed (credentials, MFA, or required user action) and a "
        "user login is required to update this information. use Link's update mode to restore the item "
        "to a good state",
    ),
    "ITEM_NOT_FOUND": (400, "ITEM_ERROR", "the requested item was not found"),
    "PRODUCT_NOT_READY": (
        400,
        "ITEM_ERROR",
        "the requested product is not yet ready. please provide a webhook or try the request again later",
    ),
    "USER_PERMISSION_REVOKED": (400, "ITEM_ERROR", "the user revoked access to this item"),
    "INVALID_CREDENTIALS": (400, "ITEM_ERROR", "the provided credentials were not correct"),
    "INVALID_MFA": (400, "ITEM_ERROR", "the provided MFA responses were not correct"),
    "ITEM_LOCKED": (400, "ITEM_ERROR", "the account is locked"),
    "NO_ACCOUNTS": (400, "ITEM_ERROR", "no valid accounts were found for this item"),
    "ITEM_NOT_SUPPORTED": (400, "ITEM_ERROR", "this item is not supported"),
    "INSUFFICIENT_CREDENTIALS": (400, "ITEM_ERROR", "insufficient authorization was provided"),
    # TRANSACTIONS_ERROR
    "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION": (
        400,
        "TRANSACTIONS_ERROR",
        "Underlying transaction data changed since last page was fetched. Please restart pagination from "
        "last update.",
    ),
    # SANDBOX_ERROR
    "SANDBOX_PRODUCT_NOT_ENABLED": (400, "SANDBOX_ERROR", "{detail}"),
    # ASSET_REPORT_ERROR (inside the ASSETS ERROR webhook)
    "ASSET_REPORT_GENERATION_FAILED": (400, "ASSET_REPORT_ERROR", "the asset report could not be generated"),
    # RATE_LIMIT_EXCEEDED
    "RATE_LIMIT": (429, "RATE_LIMIT_EXCEEDED", "rate limit exceeded"),
    "TRANSACTIONS_SYNC_LIMIT": (429, "RATE_LIMIT_EXCEEDED", "rate limit exceeded for /transactions/sync"),
    "TRANSACTIONS_LIMIT": (429, "RATE_LIMIT_EXCEEDED", "rate limit exceeded for /transactions/get"),
    "TRANSACTIONS_REFRESH_LIMIT": (
        429,
        "RATE_LIMIT_EXCEEDED",
        "rate limit exceeded for /transactions/refresh",
    ),
    "ACCOUNTS_BALANCE_GET_LIMIT": (
        429,
        "RATE_LIMIT_EXCEEDED",
        "rate limit exceeded for /accounts/balance/get",
    ),
    "ACCOUNTS_LIMIT": (429, "RATE_LIMIT_EXCEEDED", "rate limit exceeded for /accounts/get"),
    "ITEM_GET_LIMIT": (429, "RATE_LIMIT_EXCEEDED", "rate limit exceeded for /item/get"),
    # API_ERROR
    "INTERNAL_SERVER_ERROR": (500, "API_ERROR", "an unexpected error occurred"),
    "PLANNED_MAINTENANCE": (
        503,
        "API_ERROR",
        "the Plaid API is temporarily unavailable due to planned maintenance",
    ),
}

DISPLAY_MESSAGES = {
    "ITEM_LOGIN_REQUIRED": "Your login credentials have changed. Please log in again.",
    "INSTITUTION_DOWN": "This financial institution is not currently responding to requests. "
    "We apologize for the inconvenience.",
    "INSTITUTION_NOT_RESPONDING": "This financial institution is not currently responding to requests. "
    "We apologize for the inconvenience.",
    "INVALID_CREDENTIALS": "The provided credentials were not correct. Please try again.",
    "INTERNAL_SERVER_ERROR": "Something went wrong. Please try again later.",
}


class PlaidApiError(Exception):
    def __init__(self, code: str, detail: str = "", status: int | None = None, error_type: str | None = None):
        cat_status, cat_type, template = CATALOG.get(
            code, (400, "ITEM_ERROR", "the request failed: {detail}")
        )
        self.code = code
        self.status = status or cat_status
        self.error_type = error_type or cat_type
        self.message = template.format(detail=detail) if "{detail}" in template else template
        super().__init__(f"{self.error_type}/{code}: {self.message}")

    def body(self, request_id: str | None = None, with_status: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "display_message": DISPLAY_MESSAGES.get(self.code),
            "documentation_url": f"{DOCS}{self.error_type.lower().replace('_', '-')}/#{self.code.lower()}",
            "error_code": self.code,
            "error_code_reason": None,
            "error_message": self.message,
            "error_type": self.error_type,
            "suggested_action": None,
        }
        if request_id is not None:
            out["request_id"] = request_id
        if with_status:
            out["status"] = self.status
        return out


def is_known(code: str) -> bool:
    return code in CATALOG
