"""/transactions/sync, /transactions/get, /transactions/refresh."""

from __future__ import annotations

import orjson

from .. import sync
from ..data.institutions import SANDBOX
from ..errors import PlaidApiError
from ..items import STATUS_NOT_READY
from ..render import View
from .base import Call, Result, Route, date_field, int_field, options_of
from .item import accounts_of

_EMPTY_NOT_READY = {
    "added": [],
    "modified": [],
    "removed": [],
    "accounts": [],
    "next_cursor": "",
    "has_more": False,
    "transactions_update_status": "NOT_READY",
}


def transactions_sync(call: Call) -> Result:
    item = call.usable_item()
    body, options = call.body, options_of(call.body)
    count = int_field(body.get("count"), "count", 1, 500, 100)
    cursor = body.get("cursor") or ""
    if not isinstance(cursor, str) or len(cursor) > 256:
        raise PlaidApiError("INVALID_FIELD", "cursor must be a string of at most 256 characters")
    days = options.get("days_requested")
    if days is not None:
        days = int_field(days, "options.days_requested", 1, 730, 90)
    # "If the Item has already been initialized with the Transactions product, this field will have no
    # effect": only an Item linked without Transactions takes it, as this call initialises them.
    call.emu.life.start_transactions(item, days)
    account_id = options.get("account_id") or None
    if account_id is not None:
        item.account(account_id)
    view = View(options, SANDBOX[item.institution_id].datetimes)
    item.sync_called = True
    if item.status == STATUS_NOT_READY or item.ledger is None:
        return dict(_EMPTY_NOT_READY)
    page = sync.page(item.ledger, item.cursor_key, cursor, count, account_id)
    if page.has_more and item.forced_mutations > 0:
        item.forced_mutations -= 1
        call.emu.life.mutate(item)
    accounts = accounts_of(item, {"account_ids": [account_id]} if account_id else {})
    # The hot path: serialize once, straight to bytes.
    return orjson.dumps(
        {
            "accounts": accounts,
            "added": [view(t) for t in page.added],
            "modified": [view(t) for t in page.modified],
            "removed": page.removed,
            "next_cursor": page.next_cursor,
            "has_more": page.has_more,
            "transactions_update_status": item.status,
            "request_id": call.request_id,
        }
    )


def transactions_get(call: Call) -> Result:
    item = call.ready_item()
    assert item.ledger is not None
    start = date_field(call.body["start_date"], "start_date").isoformat()
    end = date_field(call.body["end_date"], "end_date").isoformat()
    if start > end:
        raise PlaidApiError("INVALID_FIELD", "start_date must be on or before end_date")
    options = options_of(call.body)
    count = int_field(options.get("count"), "options.count", 1, 500, 100)
    offset = int_field(options.get("offset"), "options.offset", 0, 10**9, 0)
    account_ids = options.get("account_ids")
    accounts = accounts_of(item, {"account_ids": account_ids} if account_ids else {})
    wanted = {a["account_id"] for a in accounts}
    matching = [t for t in item.ledger.current() if start <= t["date"] <= end and t["account_id"] in wanted]
    matching.sort(key=lambda t: (t["date"], t["transaction_id"]), reverse=True)
    view = View(options, SANDBOX[item.institution_id].datetimes)
    return orjson.dumps(
        {
            "accounts": accounts,
            "transactions": [view(t) for t in matching[offset : offset + count]],
            "total_transactions": len(matching),
            "item": item.to_dict(),
            "request_id": call.request_id,
        }
    )


def transactions_refresh(call: Call) -> Result:
    call.emu.life.refresh(call.usable_item())
    return {}


ROUTES = {
    "/transactions/sync": Route(transactions_sync, ("access_token",), needs_item=True),
    "/transactions/get": Route(transactions_get, ("access_token", "start_date", "end_date"), needs_item=True),
    "/transactions/refresh": Route(transactions_refresh, ("access_token",), needs_item=True),
}
