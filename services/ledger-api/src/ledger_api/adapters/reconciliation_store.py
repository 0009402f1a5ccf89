"""SQL of reconciliations: the ledger's candidates for a list of expected entries, the transactions the
entries' dates cover, and the kept results. Every query is scoped to the acting user."""

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

TX_COLUMNS = "transaction_id, account_id, amount, date, name, merchant_name, original_description, pending"


async def accounts_of(conn: asyncpg.Connection, user_id: str, account_ids: Sequence[str]) -> set[str]:
    """Which of these accounts are the user's."""
    rows = await conn.fetch(
        "SELECT account_id FROM accounts WHERE user_id = $1 AND account_id = ANY($2::text[])",
        user_id,
        list(account_ids),
    )
    return {r[0] for r in rows}


async def candidates(
    conn: asyncpg.Connection,
    user_id: str,
    entries: Sequence[tuple[Decimal, date, str | None]],
    scope: Sequence[str] | None,
    tolerance: Decimal,
    window: int,
    limit: int,
) -> list[asyncpg.Record]:
    """(entry index, transaction) pairs within the amount tolerance and the date window: the user's live
    transactions, of the entry's account when it names one, else of `scope` (None: every account); at most
    `limit` of them."""
    return list(
        await conn.fetch(
            f"""SELECT e.n - 1 AS entry, {", ".join("t." + c for c in TX_COLUMNS.split(", "))}
            FROM unnest($2::numeric[], $3::date[], $4::text[])
                 WITH ORDINALITY AS e(amount, day, account_id, n)
            JOIN transactions t
              ON t.user_id = $1 AND NOT t.removed
             AND t.amount BETWEEN e.amount - $6 AND e.amount + $6
             AND t.date BETWEEN e.day - $7::int AND e.day + $7::int
             AND (CASE WHEN e.account_id IS NOT NULL THEN t.account_id = e.account_id
                       WHEN $5::text[] IS NOT NULL THEN t.account_id = ANY($5::text[])
                       ELSE true END)
            LIMIT $8""",  # noqa: S608 (columns are constants)
            user_id,
            [e[0] for e in entries],
            [e[1] for e in entries],
            [e[2] for e in entries],
            list(scope) if scope is not None else None,
            tolerance,
            window,
            limit,
        )
    )


async def covered(
    conn: asyncpg.Connection, user_id: str, scope: Sequence[str] | None, first: date, last: date, limit: int
) -> list[asyncpg.Record]:
    """The user's live transactions between two dates (of `scope`'s accounts; None: all), in date order;
    the first `limit`."""
    return list(
        await conn.fetch(
            f"""SELECT {TX_COLUMNS} FROM transactions
            WHERE user_id = $1 AND NOT removed AND date BETWEEN $2 AND $3 AND amount IS NOT NULL
              AND ($4::text[] IS NULL OR account_id = ANY($4::text[]))
            ORDER BY date, transaction_id LIMIT $5""",  # noqa: S608
            user_id,
            first,
            last,
            list(scope) if scope is not None else None,
            limit,
        )
    )


async def insert(
    conn: asyncpg.Connection | asyncpg.Pool,
    reconciliation_id: uuid.UUID,
    user_id: str,
    parameters: dict[str, Any],
    result: dict[str, Any],
) -> None:
    await conn.execute(
        """INSERT INTO reconciliations (reconciliation_id, user_id, parameters, result)
           VALUES ($1, $2, $3::jsonb, $4::jsonb)""",
        reconciliation_id,
        user_id,
        orjson.dumps(parameters).decode(),
        orjson.dumps(result).decode(),
    )


async def get(conn: asyncpg.Connection | asyncpg.Pool, reconciliation_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT user_id, result::text AS result FROM reconciliations WHERE reconciliation_id = $1",
        reconciliation_id,
    )
