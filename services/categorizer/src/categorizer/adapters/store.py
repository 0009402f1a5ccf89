"""Items, users' context versions, and each transaction's current state with the last category emitted.

Every function takes the caller's connection: the handler owns the transaction.
"""

import json
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic_core import to_json


def _item_lock(item_id: str) -> str:
    return f"item:{item_id}"


async def lock_item(conn: asyncpg.Connection, item_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _item_lock(item_id))


async def lock_items_shared(conn: asyncpg.Connection, item_ids: list[str]) -> None:
    """Held by transaction events while they read who owns the Items (ItemLinked takes it exclusively)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock_shared(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k ORDER BY k",
        [_item_lock(i) for i in sorted(set(item_ids))],
    )


async def owners_of(conn: asyncpg.Connection, item_ids: list[str]) -> dict[str, tuple[str, int]]:
    """The Items' users and their context versions, locked FOR SHARE against a concurrent rule change."""
    rows = await conn.fetch(
        """SELECT i.item_id, i.user_id, u.version FROM items i JOIN user_context u ON u.user_id = i.user_id
           WHERE i.item_id = ANY($1::text[]) FOR SHARE OF u""",
        sorted(set(item_ids)),
    )
    return {r[0]: (r[1], r[2]) for r in rows}


async def context_version(conn: asyncpg.Connection, user_id: str, *, lock: bool = True) -> int:
    """The user's context version (1 for a user never seen), locked FOR SHARE when asked."""
    await conn.execute("INSERT INTO user_context (user_id) VALUES ($1) ON CONFLICT DO NOTHING", user_id)
    sql = "SELECT version FROM user_context WHERE user_id = $1" + (" FOR SHARE" if lock else "")  # noqa: S608
    version: int = await conn.fetchval(sql, user_id)
    return version


async def bump_context(conn: asyncpg.Connection, user_id: str) -> int:
    """The user's rules or learned keys changed: decisions in flight wait for this transaction."""
    version: int = await conn.fetchval(
        """INSERT INTO user_context (user_id) VALUES ($1)
           ON CONFLICT (user_id) DO UPDATE SET version = user_context.version + 1 RETURNING version""",
        user_id,
    )
    return version


async def link_item(conn: asyncpg.Connection, item_id: str, user_id: str) -> int:
    """Record the Item's owner; returns how many of its transactions learned their user."""
    await conn.execute(
        """INSERT INTO items (item_id, user_id) VALUES ($1, $2)
           ON CONFLICT (item_id) DO UPDATE
               SET user_id = excluded.user_id, removed = false, updated_at = now()""",
        item_id,
        user_id,
    )
    await conn.execute("INSERT INTO user_context (user_id) VALUES ($1) ON CONFLICT DO NOTHING", user_id)
    status = await conn.execute(
        "UPDATE transactions SET user_id = $2 WHERE item_id = $1 AND user_id IS DISTINCT FROM $2",
        item_id,
        user_id,
    )
    return int(status.split()[-1])


async def remove_item(conn: asyncpg.Connection, item_id: str) -> None:
    await conn.execute("UPDATE items SET removed = true, updated_at = now() WHERE item_id = $1", item_id)


# state: the transaction's state as JSON (domain.events.TransactionChangedIn.state_json), None once removed
Row = tuple[str, str, str, str | None, str | None, bytes | None, dict[str, Any] | None, int]
# (transaction_id, account_id, item_id, user_id, merchant_key, state, category, sync_sequence)


async def upsert_many(conn: asyncpg.Connection, rows: list[Row]) -> dict[str, int]:
    """Store the transactions' current state and category (null once removed), rows of distinct
    transaction ids, in one statement; the new versions of those applied. A row whose sync_sequence is not
    above the stored one's (an older change, or the same one again: replayed from a dead-letter topic or
    delivered out of order) changes nothing and is left out. The small fields travel as ONE JSON parameter
    (serialized by pydantic-core, taken apart by PostgreSQL's `jsonb_to_recordset`; a JSON null is SQL
    NULL): cheaper than an array parameter per column, whose elements the driver checks one by one. The
    states travel apart, each its own JSON text in a `json[]` (NULL once removed), zipped with the rest
    by position (ROWS FROM): stored as `json`, they are only checked, never built into a jsonb tree."""
    payload = to_json([dict(zip(_SMALL_KEYS, _small(row), strict=True)) for row in rows]).decode()
    states = [None if row[5] is None else row[5].decode() for row in rows]
    result = await conn.fetch(
        """INSERT INTO transactions (transaction_id, account_id, item_id, user_id, merchant_key, state,
                                     category, version, sync_sequence)
           SELECT t, a, i, u, k, s, c, 1, q
           FROM ROWS FROM (jsonb_to_recordset($1::jsonb)
                               AS (t text, a text, i text, u text, k text, c jsonb, q bigint),
                           unnest($2::json[])) AS x(t, a, i, u, k, c, q, s)
           ON CONFLICT (transaction_id) DO UPDATE SET
               account_id = excluded.account_id, item_id = excluded.item_id, user_id = excluded.user_id,
               merchant_key = excluded.merchant_key, state = excluded.state, category = excluded.category,
               version = transactions.version + 1, sync_sequence = excluded.sync_sequence, updated_at = now()
           WHERE transactions.sync_sequence IS NULL OR transactions.sync_sequence < excluded.sync_sequence
           RETURNING transaction_id, version""",
        payload,
        states,
    )
    return {r[0]: r[1] for r in result}


_SMALL_KEYS = ("t", "a", "i", "u", "k", "c", "q")


def _small(row: Row) -> tuple[object, ...]:
    """A row's fields but its state, in _SMALL_KEYS' order."""
    return row[:5] + row[6:]


@dataclass(frozen=True)
class Stored:
    transaction_id: str
    account_id: str
    item_id: str
    user_id: str | None
    state: dict[str, Any]
    category: dict[str, Any] | None
    overridden: bool


def _stored(row: asyncpg.Record) -> Stored:
    return Stored(
        transaction_id=row["transaction_id"],
        account_id=row["account_id"],
        item_id=row["item_id"],
        user_id=row["user_id"],
        state=json.loads(row["state"]),
        category=json.loads(row["category"]) if row["category"] is not None else None,
        overridden=row["overridden"],
    )


SELECT_STORED = """SELECT t.transaction_id, t.account_id, t.item_id, t.user_id, t.state::text AS state,
                          t.category::text AS category, (o.transaction_id IS NOT NULL) AS overridden
                   FROM transactions t LEFT JOIN overrides o ON o.transaction_id = t.transaction_id"""


async def page(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    user_id: str,
    item_id: str | None = None,
    merchant_key: str | None = None,
    after: str = "",
    limit: int,
    lock: bool = False,
) -> list[Stored]:
    """The next `limit` live transactions of a user (or of one Item, or of one merchant key) after
    `after`, in transaction id order; locked FOR UPDATE when asked (a job's batch)."""
    scope = "t.item_id = $1" if item_id is not None else "t.user_id = $1"
    key = " AND t.merchant_key = $4" if merchant_key is not None else ""
    sql = (
        f"{SELECT_STORED} WHERE {scope}{key} AND t.transaction_id > $2 AND t.state IS NOT NULL "
        "ORDER BY t.transaction_id LIMIT $3" + (" FOR UPDATE OF t" if lock else "")
    )
    args: list[Any] = [item_id if item_id is not None else user_id, after, limit]
    if merchant_key is not None:
        args.append(merchant_key)
    return [_stored(r) for r in await conn.fetch(sql, *args)]


async def count_live(
    conn: asyncpg.Connection, *, user_id: str, item_id: str | None, merchant_key: str | None
) -> int:
    scope = "item_id = $1" if item_id is not None else "user_id = $1"
    args: list[Any] = [item_id if item_id is not None else user_id]
    if merchant_key is not None:
        scope += " AND merchant_key = $2"
        args.append(merchant_key)
    n: int = await conn.fetchval(
        f"SELECT count(*) FROM transactions WHERE {scope} AND state IS NOT NULL",  # noqa: S608
        *args,
    )
    return n


async def recategorize(
    conn: asyncpg.Connection, user_id: str, changes: list[tuple[str, str]]
) -> dict[str, int]:
    """Set new categories (transaction id, category JSON) in one statement; their new versions."""
    if not changes:
        return {}
    rows = await conn.fetch(
        """UPDATE transactions t SET category = c.category::jsonb, user_id = $3,
                  version = t.version + 1, updated_at = now()
           FROM unnest($1::text[], $2::text[]) AS c(transaction_id, category)
           WHERE t.transaction_id = c.transaction_id RETURNING t.transaction_id, t.version""",
        [c[0] for c in changes],
        [c[1] for c in changes],
        user_id,
    )
    return {r[0]: r[1] for r in rows}
