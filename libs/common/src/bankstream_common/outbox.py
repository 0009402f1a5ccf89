"""The transactional outbox: events are rows written in the caller's transaction, never a dual write.

`enqueue` inserts the event in the caller's asyncpg transaction and notifies the relay at commit
(LISTEN/NOTIFY, so it wakes at once; it also polls, so a lost notification costs at most `poll_interval`).
The `Relay` (outbox_relay.py) publishes rows in `position` order and deletes them only after Kafka
acknowledged them: a crash between the two republishes (at-least-once); consumers deduplicate by event id.
"""

import json
from collections.abc import Sequence

import asyncpg

from .envelope import CONTENT_TYPE, Envelope

Header = tuple[str, bytes]


def channel(schema: str) -> str:
    return f"{schema}_outbox"


async def enqueue(
    conn: asyncpg.Connection, *, topic: str, key: str, event: Envelope, headers: Sequence[Header] = ()
) -> None:
    """Write `event` for `topic` with Kafka record key `key`, inside the caller's transaction."""
    await enqueue_many(conn, [(topic, key, event)], headers=headers)


async def enqueue_many(
    conn: asyncpg.Connection, items: Sequence[tuple[str, str, Envelope]], headers: Sequence[Header] = ()
) -> None:
    """Several events in one round-trip, in the given order (their relative order is kept on Kafka)."""
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.enqueue must run inside the caller's transaction")
    if not items:
        return
    extra = json.dumps([[k, v.decode()] for k, v in headers])
    await conn.execute(
        """WITH written AS (
               INSERT INTO outbox (event_id, topic, key, event_type, payload, headers)
               SELECT e, t, k, ty, p, $6::jsonb
               FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[])
                    WITH ORDINALITY AS u(e, t, k, ty, p, n) ORDER BY n
               RETURNING 1)
           SELECT pg_notify(current_schema() || '_outbox', '') FROM (SELECT 1 FROM written LIMIT 1) AS w""",
        [ev.id for _, _, ev in items],
        [t for t, _, _ in items],
        [k for _, k, _ in items],
        [ev.type for _, _, ev in items],
        [ev.to_json() for _, _, ev in items],
        extra,
    )


def record_headers(event_type: str, stored: str | list[list[str]]) -> list[Header]:
    extra = json.loads(stored) if isinstance(stored, str) else stored
    return [
        ("content-type", CONTENT_TYPE.encode()),
        ("ce_type", event_type.encode()),
        *((k, v.encode()) for k, v in extra),
    ]
