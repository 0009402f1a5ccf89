"""The transactional outbox: events are rows written in the caller's transaction, never a dual write.

`enqueue` inserts the event in the caller's asyncpg transaction and notifies the relay at commit
(LISTEN/NOTIFY, so it wakes at once; it also polls, so a lost notification costs at most `poll_interval`).
The `Relay` (outbox_relay.py) publishes rows in `position` order and deletes them only after Kafka
acknowledged them: a crash between the two republishes (at-least-once); consumers deduplicate by event id.
"""

import json
import uuid
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
    await enqueue_encoded(
        conn, [(ev.id, topic, key, ev.type, ev.to_json()) for topic, key, ev in items], headers=headers
    )


EncodedRow = tuple[uuid.UUID, str, str, str, bytes]  # (event_id, topic, key, event_type, envelope JSON)
ENCODED_COLUMNS = ("event_id", "topic", "key", "event_type", "payload", "headers")

# From this many rows on, the rows are written by a binary COPY (and the relay woken by a statement of its
# own): asyncpg checks every element of an array parameter against collections.abc, one Python call each,
# so for 800 rows the INSERT below cost its caller 5.4-5.8 us of CPU a row against 1.9-2.4 us for the COPY
# (and 13-14 against 8-9 us of wall time). At 128 rows they are about even; below, the INSERT's single
# round trip wins (64 rows: 5.9 against 7.2 us a row).
COPY_FROM_ROWS = 128


async def enqueue_encoded(
    conn: asyncpg.Connection, rows: Sequence[EncodedRow], headers: Sequence[Header] = ()
) -> None:
    """`enqueue_many` for envelopes the caller has already serialised (a hot path building its JSON
    straight from dicts, in the envelope's exact shape): the same rows, in the given order."""
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.enqueue must run inside the caller's transaction")
    if not rows:
        return
    extra = json.dumps([[k, v.decode()] for k, v in headers])
    if len(rows) >= COPY_FROM_ROWS:  # COPY keeps the rows' order: `position` is drawn row by row
        await conn.copy_records_to_table(
            "outbox", records=[(*row, extra) for row in rows], columns=ENCODED_COLUMNS
        )
        await conn.execute("SELECT pg_notify(current_schema() || '_outbox', '')")
        return
    await conn.execute(
        """WITH written AS (
               INSERT INTO outbox (event_id, topic, key, event_type, payload, headers)
               SELECT e, t, k, ty, p, $6::jsonb
               FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[])
                    WITH ORDINALITY AS u(e, t, k, ty, p, n) ORDER BY n
               RETURNING 1)
           SELECT pg_notify(current_schema() || '_outbox', '') FROM (SELECT 1 FROM written LIMIT 1) AS w""",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        extra,
    )


BATCH_EVENT_TYPE = "bankstream.outbox.batch"  # the type of the row that releases a batch (never published)
BATCH_COLUMNS = ("batch_id", "seq", "owner", "event_id", "topic", "key", "event_type", "payload")
BatchRow = tuple[int, str, str, str, str, bytes]  # (seq, event_id, topic, key, event_type, payload)


async def stage_batch(
    conn: asyncpg.Connection, batch_id: uuid.UUID, owner: str, rows: Sequence[BatchRow]
) -> None:
    """Stage events of a batch, outside any transaction if you like (binary COPY): invisible to the relay
    until `release_batch` commits. `seq` orders them, contiguous across the batch; stage in as many
    calls as convenient."""
    if rows:
        records = [(batch_id, seq, owner, e, t, k, ty, p) for seq, e, t, k, ty, p in rows]
        await conn.copy_records_to_table("outbox_batch_rows", records=records, columns=BATCH_COLUMNS)


async def release_batch(conn: asyncpg.Connection, batch_id: uuid.UUID) -> int:
    """Publish the staged batch, in the caller's transaction, at this point of the outbox's order: its
    rows go out in `seq` order before anything enqueued after it. Returns how many rows it holds. Its
    `seq` must be contiguous (first..last, no gaps): the relay reads it by ranges."""
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.release_batch must run inside the caller's transaction")
    count, first, last = await conn.fetchrow(
        "SELECT count(*), min(seq), max(seq) FROM outbox_batch_rows WHERE batch_id = $1", batch_id
    )
    if not count:
        return 0
    if last - first + 1 != count:
        raise ValueError(f"outbox batch {batch_id}: seq {first}..{last} holds {count} rows, not contiguous")
    await conn.execute(
        """WITH marker AS (
               INSERT INTO outbox
                   (event_id, topic, key, event_type, payload, batch_id, batch_first, batch_last)
               VALUES ($1, '', '', $2, ''::bytea, $1, $3, $4) RETURNING 1)
           SELECT pg_notify(current_schema() || '_outbox', '') FROM marker""",
        batch_id,
        BATCH_EVENT_TYPE,
        first,
        last,
    )
    return int(count)


async def discard_unreleased(conn: asyncpg.Connection | asyncpg.Pool, owner: str) -> None:
    """Delete `owner`'s staged batches that were never released (released ones belong to the relay)."""
    await conn.execute(
        """DELETE FROM outbox_batch_rows r WHERE r.owner = $1
           AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.batch_id = r.batch_id)""",
        owner,
    )


def record_headers(event_type: str, stored: str | list[list[str]]) -> list[Header]:
    if isinstance(stored, str):
        extra = [] if stored == "[]" else json.loads(stored)  # nearly every row has none
    else:
        extra = stored
    return [
        ("content-type", CONTENT_TYPE.encode()),
        ("ce_type", event_type.encode()),
        *((k, v.encode()) for k, v in extra),
    ]
