"""The SQL of every read: transactions (keyset pages), one transaction with its history, Items and
accounts with their coverage (one query each), balance history.

A user's rows are found by `user_id`; a row whose Item is not linked yet (user_id NULL) is nobody's.
The indexes these queries rely on are in migrations/0003_api.sql; docs/ledger-api.md says why.
"""

import json
from collections.abc import Sequence
from datetime import date
from typing import Any, TypeAlias

import asyncpg

from ..domain.cursors import TransactionPosition
from ..domain.filters import TransactionFilter
from .view_sql import transaction_view_sql

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

TX_COLUMNS = """transaction_id, user_id, item_id, account_id, version, edit_version, removed, pending,
    pending_transaction_id, amount, iso_currency_code, date, authorized_date, datetime, name, merchant_name,
    original_description, category_primary, category_detailed, category_source, category_confidence,
    category_decided_by, category_needs_review, user_category_primary, user_category_detailed, user_notes,
    user_tags, user_hidden, user_edited_at, updated_at"""


# domain.views.transaction_view, built by PostgreSQL for list pages (no Python work per row): the one SQL
# twin of it (view_sql), which a test holds to the Python view; as `json`, which is only ever sent.
TX_JSON = f"{transaction_view_sql('transactions', 'json')}::text"


def _like(text: str) -> str:
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def transactions_sql(
    f: TransactionFilter, after: TransactionPosition | None, limit: int
) -> tuple[str, list[Any]]:
    """The page query for a filter: `limit` rows in sort order after `after` (keyset, never OFFSET)."""
    args: list[Any] = [f.user_id]
    where = ["user_id = $1"]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    col = f.sort.column
    where.append(f"{col} IS NOT NULL")  # a tombstone that never carried data has no place in the order
    if not f.include_removed:
        where.append("NOT removed")
    if f.account_id is not None:
        where.append(f"account_id = {arg(f.account_id)}")
    if f.item_id is not None:
        where.append(f"item_id = {arg(f.item_id)}")
    if f.from_date is not None:
        where.append(f"date >= {arg(f.from_date)}")
    if f.to_date is not None:
        where.append(f"date <= {arg(f.to_date)}")
    if f.category is not None:
        # always by the effective primary (what transactions_user_category indexes), then the detailed one
        where.append(f"COALESCE(user_category_primary, category_primary) = {arg(f.category_primary)}")
        if f.category_level == "detailed":
            where.append(f"COALESCE(user_category_detailed, category_detailed) = {arg(f.category)}")
    if f.q is not None:
        pattern = arg(_like(f.q))
        where.append(f"(merchant_name ILIKE {pattern} OR name ILIKE {pattern})")
    if f.amount_min is not None:
        where.append(f"amount >= {arg(f.amount_min)}")
    if f.amount_max is not None:
        where.append(f"amount <= {arg(f.amount_max)}")
    if f.pending is not None:
        where.append(f"pending = {arg(f.pending)}")
    direction, op = ("DESC", "<") if f.sort.descending else ("ASC", ">")
    if after is not None:
        where.append(f"({col}, transaction_id) {op} ({arg(after.key)}, {arg(after.transaction_id)})")
    sql = (
        f"SELECT transaction_id, version, edit_version, removed, {col}, {TX_JSON} AS view "  # noqa: S608
        f"FROM transactions WHERE {' AND '.join(where)} "
        f"ORDER BY {col} {direction}, transaction_id {direction} LIMIT {arg(limit)}"
    )
    return sql, args


async def list_transactions(
    db: Conn, f: TransactionFilter, after: TransactionPosition | None, limit: int
) -> list[asyncpg.Record]:
    sql, args = transactions_sql(f, after, limit)
    return list(await db.fetch(sql, *args))


async def get_transaction(db: Conn, transaction_id: str, user_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"SELECT {TX_COLUMNS} FROM transactions WHERE transaction_id = $1 AND user_id = $2",  # noqa: S608
        transaction_id,
        user_id,
    )


async def successor_of(db: Conn, transaction_id: str) -> str | None:
    """The posted transaction that replaced a pending one, if it has arrived."""
    found: str | None = await db.fetchval(
        """SELECT transaction_id FROM transactions
           WHERE pending_transaction_id = $1 AND NOT removed ORDER BY transaction_id LIMIT 1""",
        transaction_id,
    )
    return found


async def history(db: Conn, transaction_id: str, limit: int = 200) -> list[dict[str, Any]]:
    rows = await db.fetch(
        """SELECT seq, op, version, data, at FROM changes
           WHERE entity_id = $1 AND entity = 'transaction' ORDER BY txid, seq LIMIT $2""",
        transaction_id,
        limit,
    )
    return [{**dict(r), "data": json.loads(r["data"])} for r in rows]


COVERAGE = """SELECT account_id, count(*) AS transaction_count, min(date) AS earliest_date,
                     max(date) AS latest_date
              FROM transactions WHERE user_id = $1 AND NOT removed GROUP BY account_id"""

ACCOUNT_COLUMNS = """a.account_id, a.item_id, a.name, a.official_name, a.mask, a.type, a.subtype,
    a.balance_available, a.balance_current, a.balance_limit, a.iso_currency_code,
    a.unofficial_currency_code, a.balance_as_of, COALESCE(c.transaction_count, 0) AS transaction_count,
    c.earliest_date, c.latest_date"""


async def list_accounts(db: Conn, user_id: str, item_id: str | None = None) -> list[asyncpg.Record]:
    """Every account of the user with its balances, its Item's status and its transaction coverage."""
    return list(
        await db.fetch(
            f"""SELECT {ACCOUNT_COLUMNS}, i.status AS item_status, i.needs_repair, i.last_synced_at
                FROM accounts a
                LEFT JOIN items i ON i.item_id = a.item_id
                LEFT JOIN ({COVERAGE}) c ON c.account_id = a.account_id
                WHERE a.user_id = $1 AND ($2::text IS NULL OR a.item_id = $2)
                ORDER BY a.item_id, a.name, a.account_id""",  # noqa: S608
            user_id,
            item_id,
        )
    )


async def list_items(db: Conn, user_id: str, include_removed: bool) -> list[dict[str, Any]]:
    """Every Item of the user with its accounts (balances and coverage), one row per Item."""
    rows = await db.fetch(
        f"""SELECT i.item_id, i.institution_id, i.institution_name, i.status, i.needs_repair, i.status_code,
                   i.status_changed_at, i.removed_at, i.last_synced_at, i.last_sync_failed_at,
                   i.last_sync_error_code, i.linked_at,
                   COALESCE(json_agg(json_build_object(
                       'account_id', a.account_id, 'item_id', a.item_id, 'name', a.name,
                       'official_name', a.official_name,
                       'mask', a.mask, 'type', a.type, 'subtype', a.subtype,
                       'balance_available', a.balance_available, 'balance_current', a.balance_current,
                       'balance_limit', a.balance_limit, 'iso_currency_code', a.iso_currency_code,
                       'unofficial_currency_code', a.unofficial_currency_code,
                       'balance_as_of', a.balance_as_of,
                       'transaction_count', COALESCE(c.transaction_count, 0),
                       'earliest_date', c.earliest_date, 'latest_date', c.latest_date)
                       ORDER BY a.name, a.account_id) FILTER (WHERE a.account_id IS NOT NULL), '[]')
                   AS accounts
            FROM items i
            LEFT JOIN accounts a ON a.item_id = i.item_id
            LEFT JOIN ({COVERAGE}) c ON c.account_id = a.account_id
            WHERE i.user_id = $1 AND ($2 OR i.removed_at IS NULL)
            GROUP BY i.item_id ORDER BY i.linked_at NULLS LAST, i.item_id""",  # noqa: S608
        user_id,
        include_removed,
    )
    return [{**dict(r), "accounts": json.loads(r["accounts"])} for r in rows]


async def account_owner(db: Conn, account_id: str) -> tuple[bool, str | None]:
    row = await db.fetchrow("SELECT user_id FROM accounts WHERE account_id = $1", account_id)
    return (row is not None, row["user_id"] if row else None)


async def balance_history(
    db: Conn, account_id: str, from_day: date | None, to_day: date | None
) -> Sequence[asyncpg.Record]:
    return list(
        await db.fetch(
            """SELECT day, balance_available, balance_current, balance_limit, iso_currency_code, as_of
               FROM balance_history
               WHERE account_id = $1 AND ($2::date IS NULL OR day >= $2) AND ($3::date IS NULL OR day <= $3)
               ORDER BY day""",
            account_id,
            from_day,
            to_day,
        )
    )
