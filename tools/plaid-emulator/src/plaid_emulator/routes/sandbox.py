"""/sandbox/item/fire_webhook (the codes the spec allows, as Plaid answers them), /sandbox/item/reset_login,
/sandbox/transactions/create; `fire`, the control API's rehearsal of every webhook."""

from __future__ import annotations

from datetime import timedelta

from ..data.accounts import new_account
from ..errors import PlaidApiError
from ..items import Item
from ..life import Changes
from ..state import Emulator
from ..webhooks import events
from .base import Call, Result, Route, date_field, iso

# /sandbox/item/fire_webhook: the codes the spec allows, each with its webhook_type (None: by product) and
# the product the Item must have (else SANDBOX_PRODUCT_NOT_ENABLED, as Plaid answers).
SANDBOX_CODES: dict[str, tuple[str | None, str | None]] = {
    "DEFAULT_UPDATE": (None, None),  # the product of `webhook_type` (TRANSACTIONS unless given)
    "NEW_ACCOUNTS_AVAILABLE": ("ITEM", None),
    "SMS_MICRODEPOSITS_VERIFICATION": ("AUTH", "auth"),
    "AUTHORIZATION_GRANTED": (None, "auth"),
    "USER_PERMISSION_REVOKED": ("ITEM", None),
    "USER_ACCOUNT_REVOKED": ("ITEM", None),
    "PENDING_DISCONNECT": ("ITEM", None),
    "RECURRING_TRANSACTIONS_UPDATE": ("TRANSACTIONS", "transactions"),
    "LOGIN_REPAIRED": ("ITEM", None),
    "SYNC_UPDATES_AVAILABLE": ("TRANSACTIONS", "transactions"),
    "PRODUCT_READY": ("ASSETS", "assets"),
    "ERROR": ("ASSETS", "assets"),  # an Assets webhook: the asset report failed (the Item is untouched)
}
WEBHOOK_TYPE_PRODUCTS = {
    "TRANSACTIONS": "transactions",
    "AUTH": "auth",
    "IDENTITY": "identity",
    "INVESTMENTS_TRANSACTIONS": "investments",
    "HOLDINGS": "investments",
    "LIABILITIES": "liabilities",
    "ASSETS": "assets",
    "ITEM": None,
}
# The products whose webhooks the emulator has data for; the others' webhooks are answered as not enabled.
MODELLED = {"transactions", "assets"}


def fire(emu: Emulator, item: Item, code: str) -> None:
    """The control API's rehearsal of any TRANSACTIONS or ITEM webhook the emulator sends, changing the Item
    as the real event would: unlike /sandbox/item/fire_webhook, also INITIAL_UPDATE, HISTORICAL_UPDATE,
    TRANSACTIONS_REMOVED, PENDING_EXPIRATION, and ERROR as the ITEM ERROR webhook (the Item enters
    ITEM_LOGIN_REQUIRED, as with /sandbox/item/reset_login)."""
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
    elif code == "RECURRING_TRANSACTIONS_UPDATE":
        account_ids = [a.account_id for a in item.accounts]
        emu.life.notify(item, events.recurring_transactions_update(item.item_id, account_ids))
    elif code == "ERROR":
        emu.life.set_error(item, "ITEM_LOGIN_REQUIRED")
    elif code == "USER_PERMISSION_REVOKED":
        emu.life.set_error(item, "USER_PERMISSION_REVOKED")
    elif code == "USER_ACCOUNT_REVOKED":
        emu.life.notify(item, events.item_event(item.item_id, code, account_id=item.accounts[0].account_id))
    elif code == "LOGIN_REPAIRED":
        if item.error is not None and item.error.code == "ITEM_LOGIN_REQUIRED":
            emu.life.repair(item, in_update_mode=False)
        else:
            emu.life.notify(item, events.item_event(item.item_id, code))
    elif code == "PENDING_EXPIRATION":
        item.consent_expiration_time = iso(emu.clock.now() + timedelta(days=7))
        emu.life.notify(
            item, events.item_event(item.item_id, code, consent_expiration_time=item.consent_expiration_time)
        )
    elif code == "PENDING_DISCONNECT":
        item.consent_expiration_time = iso(emu.clock.now() + timedelta(days=7))
        emu.life.notify(
            item,
            events.item_event(
                item.item_id,
                code,
                reason="INSTITUTION_TOKEN_EXPIRATION",
                disconnect_time=item.consent_expiration_time,
            ),
        )
    elif code == "NEW_ACCOUNTS_AVAILABLE":  # a new account at the bank, shared through update mode
        number = len(item.accounts) + len(item.new_accounts) + 1
        item.new_accounts.append(new_account(item.seed, number, item.currency))
        emu.life.notify(item, events.item_event(item.item_id, code, error=None))
    else:
        raise PlaidApiError("INVALID_FIELD", f"webhook_code {code} is not supported")


def fire_webhook(call: Call) -> Result:
    code, kind = call.body["webhook_code"], call.body.get("webhook_type")
    if code not in SANDBOX_CODES:
        raise PlaidApiError("INVALID_FIELD", f"webhook_code must be one of {', '.join(SANDBOX_CODES)}")
    if kind is not None and kind not in WEBHOOK_TYPE_PRODUCTS:
        raise PlaidApiError(
            "INVALID_FIELD", f"webhook_type must be one of {', '.join(WEBHOOK_TYPE_PRODUCTS)}"
        )
    fixed_type, product = SANDBOX_CODES[code]
    if code == "DEFAULT_UPDATE":
        product = WEBHOOK_TYPE_PRODUCTS[kind or "TRANSACTIONS"]
        if product is None:
            raise PlaidApiError("INVALID_FIELD", "DEFAULT_UPDATE is not an ITEM webhook")
    elif kind is not None and fixed_type is not None and kind != fixed_type:
        raise PlaidApiError("INVALID_FIELD", f"webhook_code {code} is not a {kind} webhook")
    item = call.the_item()
    if product is not None and (product not in item.products or product not in MODELLED):
        raise PlaidApiError(
            "SANDBOX_PRODUCT_NOT_ENABLED", f"the {product} product is not enabled for this item"
        )
    if product == "assets":
        asset_report_id = call.emu.mint.uuid()
        extra = {"error": PlaidApiError("ASSET_REPORT_GENERATION_FAILED").body(with_status=True)}
        call.emu.life.notify(
            item, events.assets_event(code, asset_report_id, **(extra if code == "ERROR" else {}))
        )
    else:
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
