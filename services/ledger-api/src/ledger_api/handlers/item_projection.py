"""Item, account and sync-run events -> `items`, `accounts`, `balance_history`, and change-feed entries.

Low volume (a few rows per sync), so one event at a time, each write guarded (adapters.item_store).
ItemLinked also gives the Item's user to the rows projected before it (transactions, accounts, changes).
"""

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncpg

from ..adapters import item_store as store
from ..adapters.projection_store import Change
from ..domain import consumed as ev
from ..domain.views import account_view, item_view

if TYPE_CHECKING:
    from .projections import Read


def _item_change(row: asyncpg.Record, op: str) -> Change:
    return Change("item", row["item_id"], op, item_view(row), row["user_id"], row["item_id"])


def _account_change(row: asyncpg.Record, op: str) -> Change:
    return Change("account", row["account_id"], op, account_view(row), row["user_id"], row["item_id"])


async def project_one(conn: asyncpg.Connection, r: "Read") -> list[Change]:
    """The changes this event made (empty when it was stale)."""
    e = r.data
    match r.envelope.type:
        case ev.ITEM_LINKED:
            item = await store.link_item(conn, e)
            accounts = await store.link_accounts(conn, e)
            await store.claim_rows_for_user(conn, e.item_id, e.user_id)
            return [_item_change(item, "linked"), *(_account_change(a, "linked") for a in accounts)]
        case ev.ITEM_STATUS_CHANGED:
            row = await store.change_status(conn, e)
            return [_item_change(row, "status")] if row else []
        case ev.ITEM_REMOVED:
            row = await store.remove_item(conn, e)
            return [_item_change(row, "removed")] if row else []
        case ev.ACCOUNT_UPDATED:
            row = await store.update_balance(conn, e)
            return [_account_change(row, "balance")] if row else []
        case ev.SYNC_COMPLETED:
            row = await store.sync_completed(conn, e)
            return [_item_change(row, "synced")] if row else []
        case ev.SYNC_FAILED:
            row = await store.sync_failed(conn, e)
            return [_item_change(row, "sync_failed")] if row else []
    raise AssertionError(f"no projection for {r.envelope.type}")


async def project(
    conn: asyncpg.Connection, batch: Sequence["Read"], outcomes: Counter[tuple[str, str]]
) -> list[Change]:
    changes: list[Change] = []
    for r in batch:
        made = await project_one(conn, r)
        outcomes[(r.envelope.type, "applied" if made else "stale")] += 1
        changes.extend(made)
    return changes
