"""The inbox: which events a consumer has already applied, recorded in the handler's own transaction."""

import asyncpg

from .envelope import Envelope


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
