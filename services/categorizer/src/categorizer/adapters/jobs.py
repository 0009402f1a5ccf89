"""Re-categorization jobs: their rows, claimed one batch at a time (FOR UPDATE SKIP LOCKED)."""

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class Job:
    job_id: uuid.UUID
    user_id: str
    item_id: str | None
    merchant_key: str | None
    reason: str
    caused_by: str
    state: str
    total: int
    processed: int
    changed: int
    cursor: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    error: str | None = None  # why a failed job failed


COLUMNS = (
    "job_id, user_id, item_id, merchant_key, reason, caused_by, state, total, processed, changed, cursor, "
    "created_at, updated_at, finished_at, error"
)


def _job(row: asyncpg.Record) -> Job:
    return Job(**dict(row))


async def insert(
    conn: asyncpg.Connection,
    *,
    user_id: str,
    item_id: str | None,
    merchant_key: str | None,
    reason: str,
    caused_by: str,
    total: int,
) -> Job:
    row = await conn.fetchrow(
        f"""INSERT INTO jobs (job_id, user_id, item_id, merchant_key, reason, caused_by, total)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}""",  # noqa: S608
        uuid.uuid4(),
        user_id,
        item_id,
        merchant_key,
        reason,
        caused_by,
        total,
    )
    return _job(row)


async def get(conn: asyncpg.Connection | asyncpg.Pool, job_id: uuid.UUID) -> Job | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM jobs WHERE job_id = $1", job_id)  # noqa: S608
    return None if row is None else _job(row)


async def claim(conn: asyncpg.Connection, job_id: uuid.UUID) -> Job | None:
    """The running job, locked for this batch; None when done or another process holds it."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM jobs WHERE job_id = $1 AND state = 'running' FOR UPDATE SKIP LOCKED",  # noqa: S608
        job_id,
    )
    return None if row is None else _job(row)


async def running(conn: asyncpg.Connection | asyncpg.Pool, limit: int = 100) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT job_id FROM jobs WHERE state = 'running' ORDER BY created_at LIMIT $1", limit
    )
    return [r[0] for r in rows]


async def advance(
    conn: asyncpg.Connection, job_id: uuid.UUID, *, cursor: str, processed: int, changed: int, done: bool
) -> None:
    await conn.execute(
        """UPDATE jobs SET cursor = $2, processed = processed + $3, changed = changed + $4,
               total = greatest(total, processed + $3),
               state = CASE WHEN $5 THEN 'succeeded' ELSE state END,
               finished_at = CASE WHEN $5 THEN now() END, updated_at = now()
           WHERE job_id = $1""",
        job_id,
        cursor,
        processed,
        changed,
        done,
    )


async def fail(conn: asyncpg.Connection | asyncpg.Pool, job_id: uuid.UUID, error: str) -> str | None:
    """End a running job as failed, with why; its reason (for the metric), or None if it was not running."""
    reason: str | None = await conn.fetchval(
        """UPDATE jobs SET state = 'failed', error = $2, finished_at = now(), updated_at = now()
           WHERE job_id = $1 AND state = 'running' RETURNING reason""",
        job_id,
        error,
    )
    return reason
