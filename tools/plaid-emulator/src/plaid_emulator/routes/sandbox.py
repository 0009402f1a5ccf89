"""/sandbox/item/fire_webhook, /sandbox/item/reset_login, /sandbox/transactions/create."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..errors import PlaidApiError
from ..items import Item
from ..life import Changes
from ..state import Emulator
from ..webhooks import events
from .base import Call, Result, Route, date_field, iso

TRANSACTIONS_CODES = {
    "DEFAULT_UPDATE",
    "SYNC_UPDATES_AVAILABLE",
    "INITIAL_UPDATE",
    "HISTORICAL_UPDATE",
    "TRANSACTIONS_REMOVED",
}
ITEM_CODES = {
    "NEW_ACCOUNTS_AVAILABLE",
    "USER_PERMISSION_REVOKED",
    "USER_ACCOUNT_REVOKED",
    "PENDING_DISCONNECT",
    "PENDING_EXPIRATION",
    "LOGIN_REPAIRED",
    "ERROR",
}


def fire(emu: Emulator, item: Item, code: str) -> None:
    """Fire `code` for `item`, changing the Item as the real event would."""
    if code in ("DEFAULT_UPDATE", "INITIAL_UPDATE", "HISTORICAL_UPDATE"):
        emu.life.notify(item, events.transactions_update(item.item_id, code, 0))
    elif code == "SYNC_UPDATES_AVAILABLE":
        emu.life.notify(
            item,
            events.sync_updates_available(
                item.item_id, item.status != "NOT_READY", item.status == "HISTORICAL_UPDATE_COMPLETE"
            ),
        )
    elif code == "TRANSACTIONS_REMOVED":
        emu.life.notify(item, events.transactions_removed(item.item_id, []))
    elif code == "ERROR":
        emu.life.set_error(item, "ITEM_LOGIN_REQUIRED")
    elif code == "USER_PERMISSION_REVOKED":
        emu.life.set_error(item, "USER_PERMISSION_REVOKED")
    elif code == "LOGIN_REPAIRED":
        if item.error is not None and item.error.code == "ITEM_LOGIN_REQUIRED":
            emu.life.repair(item, in_update_mode=False)
        else:
            emu.life.notify(item, events.item_event(item.item_id, code))
    elif code in ("PENDING_EXPIRATION", "PENDING_DISCONNECT"):
        expires = emu.clock.now() + timedelta(days=7)
        item.consent_expiration_time = iso(expires)
        extra: dict[str, Any] = (
            {"consent_expiration_time": item.consent_expiration_time}
            if code == "PENDING_EXPIRATION"
            else {"reason": "INSTITUTION_TOKEN_EXPIRATION"}
        )
        emu.life.notify(item, events.item_event(item.item_id, code, None, **extra))
    elif code in ITEM_CODES:
        emu.life.notify(item, events.item_event(item.item_id, code))
    else:
        raise PlaidApiError("INVALID_FIELD", f"webhook_code {code} is not supported")


def fire_webhook(call: Call) -> Result:
    code = call.body["webhook_code"]
    kind = call.body.get("webhook_type")
    expected = "TRANSACTIONS" if code in TRANSACTIONS_CODES else "ITEM"
    if kind is not None and kind != expected:
        raise PlaidApiError("INVALID_FIELD", f"webhook_code {code} is not a {kind} webhook")
    item = call.the_item()
    fire(call.emu, item, code)
    return {"webhook_fired": True}


def reset_login(call: Call) -> Result:
    call.emu.life.set_error(call.the_item(), "ITEM_LOGIN_REQUIRED")
    return {"reset_login": True}


def transactions_create(call: Call) -> Result:
    item = call.ready_item()
    assert item.ledger is not None
    given = call.body["transactions"]
    if not isinstance(given, list) or not 1 <= len(given) <= 10:
        raise PlaidApiError("INVALID_FIELD", "transactions must hold between 1 and 10 transactions")
    today = call.emu.clock.today()
    built = []
    for n, spec in enumerate(given):
        if not isinstance(spec, dict):
            raise PlaidApiError("INVALID_FIELD", f"transactions[{n}] must be an object")
        posted = date_field(spec.get("date_posted"), f"transactions[{n}].date_posted")
        transacted = date_field(spec.get("date_transacted"), f"transactions[{n}].date_transacted")
        for name, day in (("date_posted", posted), ("date_transacted", transacted)):
            if abs((day - today).days) > 14:
                raise PlaidApiError(
                    "INVALID_FIELD", f"transactions[{n}].{name} must be within 14 days of today"
                )
        amount, description = spec.get("amount"), spec.get("description")
        if (
            isinstance(amount, bool)
            or not isinstance(amount, int | float)
            or not isinstance(description, str)
        ):
            raise PlaidApiError(
                "INVALID_FIELD", f"transactions[{n}] needs a numeric amount and a description"
            )
        item.serial += 1
        built.append(
            item.ledger.gen.custom(
                item.serial,
                posted,
                transacted,
                float(amount),
                description,
                spec.get("iso_currency_code") or "USD",
            )
        )
    for txn in built:
        item.ledger.add(txn)
        item.account(txn["account_id"]).post(txn["amount"])
    call.emu.life.announce(item, Changes(added=len(built)))
    return {}


ROUTES = {
    "/sandbox/item/fire_webhook": Route(fire_webhook, ("access_token", "webhook_code"), needs_item=True),
    "/sandbox/item/reset_login": Route(reset_login, ("access_token",), needs_item=True),
    "/sandbox/transactions/create": Route(
        transactions_create, ("access_token", "transactions"), needs_item=True
    ),
}
