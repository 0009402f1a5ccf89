"""The inbox: which events a consumer has already applied, recorded in the handler's own transaction."""

import datetime as dt

import asyncpg

from .envelope import Envelope

# How long an applied event is remembered. Redeliveries come from offsets replayed within a topic's
# retention (Kafka's default: 7 days) and from dead letters replayed from a `.dlq` (kept 30 days), so the
# inbox remembers longer than both.
RETENTION = dt.timedelta(days=35)


async def claim(conn: asyncpg.Connection, consumer: str, event: Envelope) -> bool:
    """Record `event` as applied by `consumer`; False when it already was (the caller then does nothing).

    Must run inside the transaction that applies the event's effect: if that transaction rolls back, so
    does the claim, and the redelivered event is applied then.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("inbox.claim must run inside the handler's transaction")
    row = await conn.fetchval(
        "INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING 1",
        consumer,
        event.id,
        event.type,
    )
    return row is not None


async def claim_many(conn: asyncpg.Connection, consumer: str, events: list[Envelope]) -> list[Envelope]:
    """`claim` for several events in one statement: those not applied before, in the given order (an
    event given twice is returned once). Same rule: inside the transaction that applies them."""
    if not conn.is_in_transaction():
        raise RuntimeError("inbox.claim_many must run inside the handler's transaction")
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, event_id, event_type) SELECT $1, e, t "
        "FROM unnest($2::uuid[], $3::text[]) AS u(e, t) ON CONFLICT DO NOTHING RETURNING event_id",
        consumer,
        [e.id for e in events],
        [e.type for e in events],
    )
    fresh = {r[0] for r in rows}
    out = []
    for event in events:
        if event.id in fresh:
            fresh.discard(event.id)
            out.append(event)
    return out


async def prune(
    pool: asyncpg.Pool, consumer: str, older_than: dt.timedelta = RETENTION, batch: int = 10_000
) -> int:
    """Forget `consumer`'s events applied more than `older_than` ago, `batch` rows per statement (short
    transactions, no long lock); returns how many rows went."""
    total = 0
    while True:
        status = await pool.execute(
            """DELETE FROM inbox WHERE ctid IN (
                   SELECT ctid FROM inbox WHERE consumer = $1 AND processed_at < now() - $2::interval
                   LIMIT $3)""",
            consumer,
            older_than,
            batch,
        )
        deleted = int(status.split()[-1])
        total += deleted
        if deleted < batch:
            return total
