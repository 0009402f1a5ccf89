"""/item/*, /accounts/*, /institutions/get_by_id, /webhook_verification_key/get."""

from __future__ import annotations

from typing import Any

from ..data.institutions import SANDBOX
from ..errors import PlaidApiError
from ..items import Item
from ..webhooks import events
from .base import Call, Result, Route, iso, options_of


def item_get(call: Call) -> Result:
    item = call.the_item()
    return {"item": item.to_dict(), "status": item.status_dict()}


def item_remove(call: Call) -> Result:
    call.emu.remove_item(call.the_item())
    return {}


def item_webhook_update(call: Call) -> Result:
    item = call.the_item()
    webhook = call.body.get("webhook")
    if webhook is not None and not isinstance(webhook, str):
        raise PlaidApiError("INVALID_FIELD", "webhook must be a string")
    item.webhook = webhook or None
    if item.webhook:
        call.emu.life.notify(
            item,
            events.item_event(
                item.item_id, "WEBHOOK_UPDATE_ACKNOWLEDGED", new_webhook_url=item.webhook, error=None
            ),
        )
    return {"item": item.to_dict()}


def accounts_of(item: Item, options: dict[str, Any], with_timestamp: bool = False) -> list[dict[str, Any]]:
    wanted = options.get("account_ids")
    if wanted is not None:
        if not isinstance(wanted, list) or not all(isinstance(a, str) for a in wanted):
            raise PlaidApiError("INVALID_FIELD", "options.account_ids must be a list of strings")
        for account_id in wanted:
            item.account(account_id)
    out = [a.to_dict() for a in item.accounts if wanted is None or a.account_id in wanted]
    if with_timestamp:
        return out
    for account in out:
        account["balances"]["last_updated_datetime"] = None
    return out


def accounts_get(call: Call) -> Result:
    item = call.usable_item()
    return {"accounts": accounts_of(item, options_of(call.body)), "item": item.to_dict()}


def accounts_balance_get(call: Call) -> Result:
    item = call.usable_item()
    accounts = accounts_of(item, options_of(call.body), with_timestamp=True)
    now = iso(call.emu.clock.now())
    for account in accounts:
        account["balances"]["last_updated_datetime"] = now
    return {"accounts": accounts, "item": item.to_dict()}


def institutions_get_by_id(call: Call) -> Result:
    institution = SANDBOX.get(call.body["institution_id"])
    if institution is None:
        raise PlaidApiError("INVALID_INSTITUTION")
    options = options_of(call.body)
    return {"institution": institution.to_dict(bool(options.get("include_optional_metadata")))}


def webhook_verification_key_get(call: Call) -> Result:
    key = call.emu.keys.get(call.body["key_id"])
    if key is None:
        raise PlaidApiError("INVALID_WEBHOOK_VERIFICATION_KEY_ID")
    return {"key": key.jwk()}


ROUTES = {
    "/item/get": Route(item_get, ("access_token",), needs_item=True),
    "/item/remove": Route(item_remove, ("access_token",), needs_item=True),
    "/item/webhook/update": Route(item_webhook_update, ("access_token",), needs_item=True),
    "/accounts/get": Route(accounts_get, ("access_token",), needs_item=True),
    "/accounts/balance/get": Route(accounts_balance_get, ("access_token",), needs_item=True),
    "/institutions/get_by_id": Route(institutions_get_by_id, ("institution_id", "country_codes")),
    "/webhook_verification_key/get": Route(webhook_verification_key_get, ("key_id",)),
}
