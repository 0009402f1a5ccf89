"""Every error status the HTTP API can answer, documented in the shared `{"error": {...}}` shape.

errors.py decides which status an error gets; this module says so in the OpenAPI document, per operation,
so that a client (and schemathesis, in test_openapi_conformance.py) finds each answer it can receive.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="a stable snake_case word, e.g. `item_not_found`, `plaid_error`")
    message: str = Field(description="for people")


class ErrorOut(BaseModel):
    error: ErrorDetail


Responses = dict[int | str, dict[str, Any]]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


# Any authenticated operation
COMMON: Responses = {
    401: _error("`unauthenticated`: no valid bearer token"),
    403: _error("`forbidden`: the token lacks the scope"),
    422: _error("`validation_error`: the request does not match this document (`details` say where)"),
    500: _error("`internal_error`, or `vault_error`: the vault cannot open this Item's token"),
}
# An operation on one Item
ITEM: Responses = {
    404: _error("`item_not_found`: no such Item (or not yours)"),
    410: _error("`item_removed`: the Item was removed"),
}
# An operation that calls Plaid
PLAID: Responses = {
    400: _error(
        "`invalid_request`, or `plaid_error` when Plaid refused the input (INVALID_INPUT, INVALID_REQUEST, "
        "ITEM_ERROR, INSTITUTION_ERROR; `plaid_error_code` says which)"
    ),
    502: _error(
        "`plaid_error`: Plaid failed otherwise. `exchange_outcome_unknown` (the exchange only): Plaid may "
        "have exchanged the public token but its answer was lost; the token is single-use: link again"
    ),
    503: _error(
        "`plaid_unavailable`: Plaid did not answer, or the institution is not responding; retry after "
        "`Retry-After`. `item_setup_pending` (the exchange only): the Item is linked and kept, its set-up "
        "finishes in the background; the same request after `Retry-After` answers with it"
    ),
}
DUPLICATE: Responses = {
    409: _error(
        "`duplicate_item`: a duplicate of an existing Item (checked from Link's metadata before the "
        "exchange); `item_already_linked`: Plaid's exchange named an Item already linked (e.g. an "
        "update-mode session's token). `existing_item_id` names it when it is yours."
    )
}
