"""Outbox relay throughput next to the raw idempotent producer, same run, same message size.

Raw: one idempotent aiokafka producer (acks=all) sends the N records the relay would send (same key,
value and headers) and waits for every ack: in record batches it fills itself per partition (the fastest
this client goes, and how the relay sends since 2026-11-30), and, for reference, one `send` per record.
Relay: N envelopes are committed to the outbox first; the relay takes its lock; the clock runs from the
relay's first read to the moment the last row is marked sent (every write acknowledged by Kafka), the
lock proven held before each unit. Target: relay >= 50% of raw.
"""

import asyncio
import os
import time
import uuid

from bankstream_common import outbox
from bankstream_common.db import create_pool
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.producer import create_producer
from bankstream_common.kafka.topics import TopicSpec, ensure_topics
from bankstream_common.migrations import migrate_service
from bankstream_common.outbox import record_headers
from bankstream_common.outbox_relay import OutboxRelay, RelayConfig
from bankstream_common.pipeline_metrics import PipelineMetrics
from prometheus_client import CollectorRegistry
from raw_batches import in_batches

PARTITIONS = 6
KEYS = 200


def _events(n: int) -> list[Envelope]:
    # ~600-byte envelopes, the size of a transaction event
    pad = "x" * 380
    return [
        Envelope.new(
            source="bankstream/bench",
            type="bankstream.bench.event.v1",
            subject=f"acct-{i % KEYS}",
            data={"seq": i, "amount": 12.34, "name": "STARBUCKS #12345 SAN FRANCISCO CA", "pad": pad},
        )
        for i in range(n)
    ]


async def _raw(bootstrap: str, topic: str, events: list[Envelope], *, batched: bool) -> float:
    producer = create_producer(bootstrap, client_id="bench-raw")
    await producer.start()
    try:
        # the very records the relay sends: same key, value and headers
        payloads = [(e.subject.encode(), e.to_json(), record_headers(e.type, "[]")) for e in events]
        started = time.perf_counter()
        if batched:
            await (await in_batches(producer, topic, payloads))
        else:
            futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in payloads]
            await asyncio.gather(*futures)
        return len(events) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def _relay(dsn: str, bootstrap: str, topic: str, events: list[Envelope]) -> float:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    await migrate_service(dsn, schema, None)
    pool = await create_pool(dsn, schema=schema, max_size=4)
    producer = create_producer(bootstrap, client_id="bench-relay")
    await producer.start()
    try:
        for start in range(0, len(events), 5000):
            chunk = events[start : start + 5000]
            async with pool.acquire() as conn, conn.transaction():
                await outbox.enqueue_many(conn, [(topic, e.subject, e) for e in chunk])
        relay = OutboxRelay(
            RelayConfig(schema=schema, batch_size=2000),
            pool=pool,
            producer=producer,
            metrics=PipelineMetrics("bench", CollectorRegistry()),
        )
        if not await relay.lead():  # as in production: the lock is proven held before each unit
            raise RuntimeError("the relay could not take its lock")
        try:
            started = time.perf_counter()
            published = await relay.publish_available()
            elapsed = time.perf_counter() - started
        finally:
            await relay.resign()
        if published != len(events):
            raise RuntimeError(f"relay published {published} of {len(events)} rows")
        return published / elapsed
    finally:
        await producer.stop()
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")
        await pool.close()


async def _main(quick: bool) -> list[dict]:
    dsn, bootstrap = os.environ["DATABASE_URL"], os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    n = 10_000 if quick else 50_000
    events = _events(n)
    size = len(events[0].to_json())
    topic = f"bench.relay.{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, [TopicSpec(topic, PARTITIONS, dead_letter=False)])
    await _raw(bootstrap, topic, events[:2000], batched=True)  # warm the broker and the client
    raw, per_record, relay = [], [], []
    for _ in range(3):  # interleaved, best of three each
        raw.append(await _raw(bootstrap, topic, events, batched=True))
        per_record.append(await _raw(bootstrap, topic, events, batched=False))
        relay.append(await _relay(dsn, bootstrap, topic, events))
    best_raw, best_relay = max(raw), max(relay)
    common = {"events": n, "message_bytes": size}
    return [
        {
            "bench": "outbox.raw_producer",
            "metric": "events_per_s",
            "value": round(best_raw),
            "unit": "1/s",
            "note": "record batches filled per partition",
            **common,
        },
        {
            "bench": "outbox.raw_producer_per_record",
            "metric": "events_per_s",
            "value": round(max(per_record)),
            "unit": "1/s",
            "note": "one send() per record",
            **common,
        },
        {
            "bench": "outbox.relay",
            "metric": "events_per_s",
            "value": round(best_relay),
            "unit": "1/s",
            **common,
        },
        {
            "bench": "outbox.relay_vs_raw",
            "metric": "ratio",
            "value": round(best_relay / best_raw, 3),
            "unit": "",
            "target": ">=0.5",
            "note": "against record batches, the producer's limit",
        },
        {
            "bench": "outbox.relay_vs_raw_per_record",
            "metric": "ratio",
            "value": round(best_relay / max(per_record), 3),
            "unit": "",
            "note": "against one send() per record (the raw loop until 2026-11-30)",
        },
    ]


def run(quick: bool = False) -> list[dict]:
    return asyncio.run(_main(quick))
