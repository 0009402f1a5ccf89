"""Reading the sync history: an Item's state and its runs, newest first (the write side is repository.py)."""

import datetime as dt
from typing import Any

import asyncpg

RUNS = """SELECT run_id::text, item_id, triggers, outcome, pages, restarts, added, modified, removed,
                 started_at, finished_at, duration_ms, error_code, error_type, retryable, first_sequence,
                 last_sequence
          FROM sync_runs"""
ITEM_RUNS = (
    RUNS
    + """ WHERE item_id = $1 AND ($2::timestamptz IS NULL OR started_at < $2)
                       AND ($3::text IS NULL OR outcome = $3)
                     ORDER BY started_at DESC LIMIT $4"""
)
FAILED_RUNS = RUNS + " WHERE outcome = 'failed' ORDER BY started_at DESC LIMIT $1"


async def record_owner(conn: asyncpg.Connection, item_id: str, user_id: str) -> None:
    await conn.execute(
        """INSERT INTO item_owners (item_id, user_id) VALUES ($1, $2)
           ON CONFLICT (item_id) DO UPDATE SET user_id = excluded.user_id
           WHERE item_owners.user_id <> excluded.user_id""",
        item_id,
        user_id,
    )


async def owner_of(pool: asyncpg.Pool, item_id: str) -> str | None:
    """The user the Item belongs to, None while no event has said so."""
    owner: str | None = await pool.fetchval("SELECT user_id FROM item_owners WHERE item_id = $1", item_id)
    return owner


async def item_state(pool: asyncpg.Pool, item_id: str) -> dict[str, Any] | None:
    """The Item's sync state (never its cursor's content beyond whether it has one)."""
    row = await pool.fetchrow(
        """SELECT item_id, status, cursor <> '' AS has_cursor, last_sequence, wanted_at, wanted_triggers,
                  not_before, failed_runs, lease_until > now() AS running, last_synced_at, last_error_code,
                  update_status
           FROM sync_items WHERE item_id = $1""",
        item_id,
    )
    return dict(row) if row else None


async def runs(
    pool: asyncpg.Pool,
    item_id: str,
    *,
    limit: int = 50,
    before: dt.datetime | None = None,
    outcome: str | None = None,
) -> list[dict[str, Any]]:
    """The Item's runs, newest first; page with `before` (the last `started_at` seen)."""
    rows = await pool.fetch(
        ITEM_RUNS,
        item_id,
        before,
        outcome,
        limit,
    )
    return [dict(r) for r in rows]


async def recent_failures(pool: asyncpg.Pool, *, limit: int = 50) -> list[dict[str, Any]]:
    """Failed runs across Items, newest first (what an operator looks at first)."""
    rows = await pool.fetch(
        FAILED_RUNS,
        limit,
    )
    return [dict(r) for r in rows]
