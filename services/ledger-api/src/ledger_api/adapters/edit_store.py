"""The SQL of the API's writes: a user's edit of a transaction, the change rows it leaves, and the
per-Item throttle of on-demand refreshes. Every function runs in the caller's transaction."""

import json
from typing import Any

import asyncpg

from ..domain.edits import TransactionEdit
from .read_store import TX_COLUMNS


async def lock_transaction(
    conn: asyncpg.Connection, transaction_id: str, user_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {TX_COLUMNS} FROM transactions WHERE transaction_id = $1 AND user_id = $2 FOR UPDATE",  # noqa: S608
        transaction_id,
        user_id,
    )


async def apply_edit(conn: asyncpg.Connection, transaction_id: str, edit: TransactionEdit) -> asyncpg.Record:
    """Write the user_* columns the edit names (the others keep their value) and bump edit_version.
    `user_edited_at` is the database's clock, and strictly later than the row's previous edit whatever that
    clock did: CategoryOverridden carries it as `overridden_at`, which the categorizer orders a
    transaction's overrides by (a replica's own clock, skewed, could make a later edit look older)."""
    sets = [
        "edit_version = edit_version + 1",
        "user_edited_at = GREATEST(now(), user_edited_at + interval '1 microsecond')",
        "updated_at = now()",
    ]
    args: list[Any] = [transaction_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if edit.sets_category:
        category = edit.category
        sets.append(f"user_category_primary = {arg(category.primary if category else None)}")
        sets.append(f"user_category_detailed = {arg(category.detailed if category else None)}")
    if edit.notes is not None:
        sets.append(f"user_notes = {arg(edit.notes or None)}")
    if edit.tags is not None:
        sets.append(f"user_tags = {arg(list(edit.tags))}")
    if edit.hidden is not None:
        sets.append(f"user_hidden = {arg(edit.hidden)}")
    sql = f"UPDATE transactions SET {', '.join(sets)} WHERE transaction_id = $1 RETURNING {TX_COLUMNS}"  # noqa: S608
    row = await conn.fetchrow(sql, *args)
    assert row is not None  # locked by the caller
    return row


async def record_change(conn: asyncpg.Connection, row: asyncpg.Record, op: str, data: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO changes (user_id, item_id, entity, entity_id, op, version, data)
           VALUES ($1, $2, 'transaction', $3, $4, $5, $6::jsonb)""",
        row["user_id"],
        row["item_id"],
        row["transaction_id"],
        op,
        row["version"],
        json.dumps(data),
    )


async def get_item(conn: asyncpg.Connection, item_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT item_id, user_id, removed_at FROM items WHERE item_id = $1", item_id)


async def claim_refresh(conn: asyncpg.Connection, item_id: str, every_seconds: float) -> float:
    """Take the Item's refresh slot: 0.0 when taken, else the seconds until the next one opens."""
    taken = await conn.fetchval(
        """INSERT INTO refresh_requests AS r (item_id, requested_at) VALUES ($1, clock_timestamp())
           ON CONFLICT (item_id) DO UPDATE SET requested_at = clock_timestamp()
           WHERE r.requested_at <= clock_timestamp() - make_interval(secs => $2)
           RETURNING true""",
        item_id,
        every_seconds,
    )
    if taken:
        return 0.0
    wait = await conn.fetchval(
        """SELECT extract(epoch FROM requested_at + make_interval(secs => $2) - clock_timestamp())
           FROM refresh_requests WHERE item_id = $1""",
        item_id,
        every_seconds,
    )
    return max(float(wait or 0.0), 0.001)
