"""/link/token/create, /item/public_token/exchange, /sandbox/public_token/create."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import PlaidApiError
from ..state import LINK_TOKEN_TTL, UPDATE_LINK_TOKEN_TTL, LinkToken
from .base import Call, Result, Route, int_field, iso, options_of


def link_token_create(call: Call) -> Result:
    body, emu = call.body, call.emu
    user = body["user"]
    if not isinstance(user, dict) or not user.get("client_user_id"):
        raise PlaidApiError("MISSING_FIELDS", "user.client_user_id")
    item_id = None
    if body.get("access_token"):
        item_id = emu.item_for_token(body["access_token"]).item_id
    elif not body.get("products"):
        raise PlaidApiError(
            "INVALID_FIELD", "products must be provided unless access_token is set (update mode)"
        )
    redirect_uri = body.get("redirect_uri") or None
    if redirect_uri is not None:
        parts = urlsplit(redirect_uri)
        if not parts.scheme or not parts.netloc or parts.query:
            raise PlaidApiError(
                "INVALID_FIELD", "redirect_uri must be an absolute URI without query parameters"
            )
    days = int_field(
        (body.get("transactions") or {}).get("days_requested"), "transactions.days_requested", 1, 730, 90
    )
    ttl = UPDATE_LINK_TOKEN_TTL if item_id else LINK_TOKEN_TTL
    link = emu.issue_link_token(
        LinkToken(
            token=emu.mint.token("link"),
            expiration=emu.clock.now() + ttl,
            client_name=body["client_name"],
            products=list(body.get("products") or []),
            webhook=body.get("webhook") or None,
            redirect_uri=redirect_uri,
            days_requested=days,
            item_id=item_id,
            account_selection=bool(item_id and (body.get("update") or {}).get("account_selection_enabled")),
        )
    )
    return {"link_token": link.token, "expiration": iso(link.expiration)}


def public_token_exchange(call: Call) -> Result:
    item = call.emu.exchange(call.body["public_token"])
    return {"access_token": item.access_token, "item_id": item.item_id}


def sandbox_public_token_create(call: Call) -> Result:
    options = options_of(call.body)
    days = int_field(
        (options.get("transactions") or {}).get("days_requested"),
        "options.transactions.days_requested",
        1,
        730,
        90,
    )
    item = call.emu.create_item(
        call.body["institution_id"],
        list(call.body["initial_products"]),
        options.get("webhook"),
        days,
        options.get("override_username") or "user_good",
        options.get("override_password") or "pass_good",
    )
    return {"public_token": call.emu.issue_public_token(item)}


ROUTES = {
    "/link/token/create": Route(link_token_create, ("client_name", "language", "country_codes", "user")),
    "/item/public_token/exchange": Route(public_token_exchange, ("public_token",)),
    "/sandbox/public_token/create": Route(
        sandbox_public_token_create, ("institution_id", "initial_products")
    ),
}
