"""SQL for Items, accounts, status history and the audit trails; every function takes the caller's connection.

Writes that belong together run in the caller's transaction (with the outbox rows describing them);
nothing here opens a transaction of its own except `record_plaid_call`, which stands alone on purpose.
"""

from collections.abc import Sequence
from typing import TypeAlias

import asyncpg

from ..adapters.plaid_client import PlaidCall
from ..adapters.webhook_writer import RECORD, WebhookRecord, record_arguments
from ..domain.events import Account
from ..domain.item_state import ItemStatus, Transition
from ..domain.items import Item, StatusChange

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

_ITEM_COLUMNS = """item_id, user_id, institution_id, institution_name, status, status_code, products,
                   created_at, updated_at, removed_at"""


async def insert_item(
    conn: asyncpg.Connection,
    *,
    item_id: str,
    user_id: str,
    institution_id: str | None,
    institution_name: str | None,
    products: Sequence[str],
    accounts: Sequence[Account],
) -> None:
    await conn.execute(
        """INSERT INTO items (item_id, user_id, institution_id, institution_name, products)
           VALUES ($1, $2, $3, $4, $5)""",
        item_id,
        user_id,
        institution_id,
        institution_name,
        list(products),
    )
    await upsert_accounts(conn, item_id, accounts)


async def upsert_accounts(conn: asyncpg.Connection, item_id: str, accounts: Sequence[Account]) -> None:
    await conn.executemany(
        """INSERT INTO accounts (account_id, item_id, name, official_name, mask, type, subtype)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (account_id) DO UPDATE SET name = EXCLUDED.name,
               official_name = EXCLUDED.official_name, mask = EXCLUDED.mask, type = EXCLUDED.type,
               subtype = EXCLUDED.subtype""",
        [(a.account_id, item_id, a.name, a.official_name, a.mask, a.type, a.subtype) for a in accounts],
    )


async def get_item(conn: Conn, item_id: str, *, for_update: bool = False) -> Item | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_ITEM_COLUMNS} FROM items WHERE item_id = $1{lock}", item_id)  # noqa: S608
    if row is None:
        return None
    accounts = await _accounts(conn, [item_id])
    return _item(row, accounts.get(item_id, []))


async def list_items(conn: Conn, user_id: str | None, *, include_removed: bool = False) -> list[Item]:
    rows = await conn.fetch(
        f"""SELECT {_ITEM_COLUMNS} FROM items
            WHERE ($1::text IS NULL OR user_id = $1) AND ($2 OR status <> 'removed')
            ORDER BY created_at, item_id""",  # noqa: S608
        user_id,
        include_removed,
    )
    accounts = await _accounts(conn, [r["item_id"] for r in rows])
    return [_item(r, accounts.get(r["item_id"], [])) for r in rows]


async def live_items_at(conn: Conn, user_id: str, institution_id: str) -> list[Item]:
    rows = await conn.fetch(
        f"""SELECT {_ITEM_COLUMNS} FROM items
            WHERE user_id = $1 AND institution_id = $2 AND status <> 'removed'""",  # noqa: S608
        user_id,
        institution_id,
    )
    accounts = await _accounts(conn, [r["item_id"] for r in rows])
    return [_item(r, accounts.get(r["item_id"], [])) for r in rows]


async def apply_transition(conn: asyncpg.Connection, item_id: str, transition: Transition) -> None:
    removed = transition.to_status is ItemStatus.REMOVED
    await conn.execute(
        """UPDATE items SET status = $2, status_code = $3, updated_at = now(),
               removed_at = CASE WHEN $4 THEN now() ELSE removed_at END
           WHERE item_id = $1""",
        item_id,
        transition.to_status.value,
        transition.trigger.code,
        removed,
    )
    await conn.execute(
        """INSERT INTO item_status_changes (item_id, from_status, to_status, trigger, code)
           VALUES ($1, $2, $3, $4, $5)""",
        item_id,
        transition.from_status.value,
        transition.to_status.value,
        transition.trigger.kind.value,
        transition.trigger.code,
    )


async def status_history(conn: Conn, item_id: str) -> list[StatusChange]:
    rows = await conn.fetch(
        """SELECT from_status, to_status, trigger, code, changed_at FROM item_status_changes
           WHERE item_id = $1 ORDER BY id""",
        item_id,
    )
    return [
        StatusChange(
            ItemStatus(r["from_status"]), ItemStatus(r["to_status"]), r["trigger"], r["code"], r["changed_at"]
        )
        for r in rows
    ]


async def record_link_session(
    conn: Conn,
    *,
    user_id: str,
    outcome: str,
    link_session_id: str | None,
    request_id: str | None,
    institution_id: str | None,
    item_id: str | None,
    error_type: str | None,
    error_code: str | None,
    exit_status: str | None,
) -> int:
    value = await conn.fetchval(
        """INSERT INTO link_sessions (user_id, outcome, link_session_id, request_id, institution_id, item_id,
               error_type, error_code, exit_status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
        user_id,
        outcome,
        link_session_id,
        request_id,
        institution_id,
        item_id,
        error_type,
        error_code,
        exit_status,
    )
    return int(value)


async def record_plaid_call(conn: Conn, call: PlaidCall) -> None:
    await conn.execute(
        """INSERT INTO plaid_calls
               (endpoint, request_id, item_id, http_status, error_type, error_code, latency_ms)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        call.endpoint,
        call.request_id,
        call.item_id,
        call.http_status,
        call.error_type,
        call.error_code,
        call.latency_s * 1000.0,
    )


async def record_vault_release(conn: Conn, item_id: str, released_to: str) -> None:
    await conn.execute(
        "INSERT INTO vault_releases (item_id, released_to) VALUES ($1, $2)", item_id, released_to
    )


async def claim_webhook_and_enqueue(conn: asyncpg.Connection, webhook: WebhookRecord) -> bool:
    """One webhook through the group-commit statement, inside the caller's transaction (ITEM webhooks,
    whose status transition must commit with the claim)."""
    result = await conn.fetchrow(RECORD, *record_arguments([webhook]))
    return bool(result and result["fresh"])


async def prune_webhook_deliveries(conn: Conn, issued_before_seconds: float) -> str:
    """Forget deliveries issued longer ago than a replay of them could still verify."""
    return str(
        await conn.execute(
            "DELETE FROM webhook_deliveries WHERE issued_at < now() - make_interval(secs => $1)",
            issued_before_seconds,
        )
    )


async def prune_plaid_calls(conn: Conn, older_than_seconds: float, batch: int = 5000) -> int:
    """Forget audited Plaid calls past their retention, a batch per statement (short locks)."""
    pruned = 0
    while True:
        status = await conn.execute(
            """DELETE FROM plaid_calls WHERE id IN (SELECT id FROM plaid_calls
                   WHERE called_at < now() - make_interval(secs => $1) LIMIT $2)""",
            older_than_seconds,
            batch,
        )
        count = int(status.split()[-1])
        pruned += count
        if count < batch:
            return pruned


async def _accounts(conn: Conn, item_ids: list[str]) -> dict[str, list[Account]]:
    if not item_ids:
        return {}
    rows = await conn.fetch(
        """SELECT item_id, account_id, name, official_name, mask, type, subtype FROM accounts
           WHERE item_id = ANY($1::text[]) ORDER BY account_id""",
        item_ids,
    )
    out: dict[str, list[Account]] = {}
    for r in rows:
        out.setdefault(r["item_id"], []).append(
            Account(
                account_id=r["account_id"],
                name=r["name"],
                official_name=r["official_name"],
                mask=r["mask"],
                type=r["type"],
                subtype=r["subtype"],
            )
        )
    return out


def _item(row: asyncpg.Record, accounts: list[Account]) -> Item:
    return Item(
        item_id=row["item_id"],
        user_id=row["user_id"],
        institution_id=row["institution_id"],
        institution_name=row["institution_name"],
        status=ItemStatus(row["status"]),
        status_code=row["status_code"],
        products=list(row["products"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        removed_at=row["removed_at"],
        accounts=accounts,
    )
