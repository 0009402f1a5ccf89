"""SQL of CSV imports: the jobs, each batch's dedup candidates, the rows and findings a batch writes.

Every function takes the caller's connection: the handler owns the transaction (one per batch).
"""

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

JOB_COLUMNS = (
    "import_id, user_id, account_id, item_id, iso_currency_code, layout, options, file_sha256, state, error, "
    "total, processed, imported, duplicates, bad, created_at, updated_at, finished_at"
)


def _json(rows: list[dict[str, Any]]) -> str:
    """A batch as ONE JSON parameter (read by jsonb_to_recordset): array parameters of dates and numbers
    cost the driver a per-element check that, for 20,000 lines, was most of its time."""
    return orjson.dumps(rows, default=str).decode()


async def account(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: str, account_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT account_id, item_id, iso_currency_code FROM accounts WHERE account_id = $1 AND user_id = $2",
        account_id,
        user_id,
    )


async def insert_job(
    conn: asyncpg.Connection,
    *,
    user_id: str,
    account: asyncpg.Record,
    layout: str,
    options: dict[str, Any],
    file_sha256: str,
    body: str,
    total: int,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""INSERT INTO imports (import_id, user_id, account_id, item_id, iso_currency_code, layout, options,
                                 file_sha256, body, total)
            VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10) RETURNING {JOB_COLUMNS}""",  # noqa: S608
        uuid.uuid4(),
        user_id,
        account["account_id"],
        account["item_id"],
        account["iso_currency_code"],
        layout,
        orjson.dumps(options).decode(),
        file_sha256,
        body,
        total,
    )
    assert row is not None
    return row


async def get_job(conn: asyncpg.Connection | asyncpg.Pool, import_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {JOB_COLUMNS} FROM imports WHERE import_id = $1", import_id)  # noqa: S608


async def body_of(conn: asyncpg.Connection | asyncpg.Pool, import_id: uuid.UUID) -> str | None:
    body: str | None = await conn.fetchval("SELECT body FROM imports WHERE import_id = $1", import_id)
    return body


async def running(conn: asyncpg.Connection | asyncpg.Pool, limit: int = 100) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT import_id FROM imports WHERE state = 'running' ORDER BY created_at LIMIT $1", limit
    )
    return [r[0] for r in rows]


async def claim(conn: asyncpg.Connection, import_id: uuid.UUID) -> asyncpg.Record | None:
    """The running job, locked for this batch; None when done or another process holds it."""
    return await conn.fetchrow(
        f"SELECT {JOB_COLUMNS} FROM imports WHERE import_id = $1 AND state = 'running' "  # noqa: S608
        "FOR UPDATE SKIP LOCKED",
        import_id,
    )


async def taken(conn: asyncpg.Connection, import_id: uuid.UUID) -> set[str]:
    """The ledger rows this import already reported as duplicates (each is matched at most once)."""
    rows = await conn.fetch(
        "SELECT detail->>'transaction_id' FROM import_findings WHERE import_id = $1 AND kind = 'duplicate'",
        import_id,
    )
    return {r[0] for r in rows}


async def candidates(
    conn: asyncpg.Connection,
    import_id: uuid.UUID,
    account_id: str,
    rows: Sequence[tuple[str, str | None, date, Decimal]],  # (transaction_id, imported_id, date, amount)
    tolerance: Decimal,
    window: int,
) -> list[asyncpg.Record]:
    """For each row (k, its index in `rows`): what it may duplicate.

    `same_id`: an earlier import wrote this very line (same derived id); `imported_id`: the same, for
    a line with a bank id (its derived id is made of that id alone); `fuzzy`: a transaction of this
    account (Plaid's, or an earlier import's, in the ledger or still on its way through the categorizer)
    within the amount tolerance and the date window, this import's own rows excepted.

    Each fuzzy branch is one index probe per row (`LATERAL ... OFFSET 0` on (account_id, amount, date)):
    as a plain join the planner read the account's rows once and filtered rows x lines pairs (EXPLAIN
    ANALYZE: 100,000,000 pairs for 5,000 lines against 20,000 rows, minutes)."""
    return list(
        await conn.fetch(
            """WITH r AS (
               SELECT * FROM jsonb_to_recordset($3::jsonb)
                   AS r(k int, tid text, iid text, day date, amount numeric))
           SELECT r.k - 1 AS k, x.transaction_id,
                  CASE WHEN x.imported_id IS NULL THEN 'same_id' ELSE 'imported_id' END AS how,
                  x.amount, x.date, x.description AS name, NULL AS merchant_name, NULL AS original_description
           FROM r CROSS JOIN LATERAL (
               SELECT * FROM import_rows x WHERE x.transaction_id = r.tid OFFSET 0) x
           UNION ALL
           SELECT r.k - 1, t.transaction_id, 'fuzzy', t.amount, t.date, t.name, t.merchant_name,
                  t.original_description
           FROM r CROSS JOIN LATERAL (
               SELECT * FROM transactions t
               WHERE t.account_id = $2 AND NOT t.removed
                 AND t.amount BETWEEN r.amount - $4 AND r.amount + $4
                 AND t.date BETWEEN r.day - $5::int AND r.day + $5::int
                 AND (left(t.transaction_id, 4) <> 'csv_'
                      OR NOT EXISTS (SELECT 1 FROM import_rows o
                                     WHERE o.transaction_id = t.transaction_id AND o.import_id = $1))
               OFFSET 0) t
           UNION ALL
           SELECT r.k - 1, x.transaction_id, 'fuzzy', x.amount, x.date, x.description, NULL, NULL
           FROM r CROSS JOIN LATERAL (
               SELECT * FROM import_rows x
               WHERE x.account_id = $2 AND x.import_id <> $1
                 AND x.amount BETWEEN r.amount - $4 AND r.amount + $4
                 AND x.date BETWEEN r.day - $5::int AND r.day + $5::int
                 AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.transaction_id = x.transaction_id)
               OFFSET 0) x""",
            import_id,
            account_id,
            _json(
                [
                    {"k": k + 1, "tid": r[0], "iid": r[1], "day": r[2], "amount": r[3]}
                    for k, r in enumerate(rows)
                ]
            ),
            tolerance,
            window,
        )
    )


async def insert_rows(
    conn: asyncpg.Connection,
    import_id: uuid.UUID,
    account_id: str,
    rows: Sequence[tuple[str, int, str | None, date, Decimal, str]],
) -> set[str]:
    """Record the new rows (transaction_id, line, imported_id, date, amount, description); the ids that
    were not there yet (a line this import already wrote is left as it was)."""
    if not rows:
        return set()
    written = await conn.fetch(
        """INSERT INTO import_rows (transaction_id, import_id, account_id, line, imported_id, date, amount,
                                    description)
           SELECT t, $1, $2, l, i, d, a, s
           FROM jsonb_to_recordset($3::jsonb) AS u(t text, l int, i text, d date, a numeric, s text)
           ON CONFLICT (transaction_id) DO NOTHING
           RETURNING transaction_id""",
        import_id,
        account_id,
        _json([{"t": r[0], "l": r[1], "i": r[2], "d": r[3], "a": r[4], "s": r[5]} for r in rows]),
    )
    return {r[0] for r in written}


async def add_findings(
    conn: asyncpg.Connection, import_id: uuid.UUID, findings: Sequence[tuple[int, str, dict[str, Any]]]
) -> None:
    if not findings:
        return
    await conn.execute(
        """INSERT INTO import_findings (import_id, line, kind, detail)
           SELECT $1, l, k, d FROM jsonb_to_recordset($2::jsonb) AS u(l int, k text, d jsonb)
           ON CONFLICT DO NOTHING""",
        import_id,
        _json([{"l": f[0], "k": f[1], "d": f[2]} for f in findings]),
    )


async def advance(
    conn: asyncpg.Connection,
    import_id: uuid.UUID,
    *,
    processed: int,
    imported: int,
    duplicates: int,
    bad: int,
    done: bool,
) -> None:
    await conn.execute(
        """UPDATE imports SET processed = processed + $2, imported = imported + $3,
               duplicates = duplicates + $4, bad = bad + $5,
               state = CASE WHEN $6 THEN 'succeeded' ELSE state END,
               body = CASE WHEN $6 THEN NULL ELSE body END,
               finished_at = CASE WHEN $6 THEN now() END, updated_at = now()
           WHERE import_id = $1""",
        import_id,
        processed,
        imported,
        duplicates,
        bad,
        done,
    )


async def fail(conn: asyncpg.Connection | asyncpg.Pool, import_id: uuid.UUID, error: str) -> None:
    """An import that cannot go on (not a bad line: those are findings) stops, saying why."""
    await conn.execute(
        """UPDATE imports SET state = 'failed', error = $2, body = NULL, finished_at = now(),
               updated_at = now()
           WHERE import_id = $1 AND state = 'running'""",
        import_id,
        error[:500],
    )


async def findings(
    conn: asyncpg.Connection | asyncpg.Pool, import_id: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT line, kind, detail::text AS detail FROM import_findings WHERE import_id = $1
           ORDER BY line LIMIT $2""",
            import_id,
            limit,
        )
    )
