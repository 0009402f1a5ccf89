"""What the chaos run checks after quiescence, besides the ledger against the truth: every dead-letter topic
holds only the poison put there on purpose, and no outbox keeps an event unpublished. Read straight from
the broker and the database: these are the operator's views, not a user's."""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

SCHEMAS = ("link_svc", "sync_worker", "categorizer", "ledger_api")
DLQ_SUFFIX = ".dlq"
# a record no consumer can read (not an envelope): each consumer must set it aside in `<topic>.dlq`
POISON_TOPICS = ("bankstream.transactions", "bankstream.categorized-transactions")


def poison_value(topic: str, seed: int) -> bytes:
    return f'{{"chaos_poison": "{topic}", "seed": {seed}}}'.encode()


async def inject_poison(bootstrap: str, seed: int) -> list[bytes]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        values = []
        for topic in POISON_TOPICS:
            value = poison_value(topic, seed)
            await producer.send_and_wait(topic, value, key=b"chaos-poison")
            values.append(value)
        return values
    finally:
        await producer.stop()


@dataclass
class DeadLetters:
    poison: int = 0
    unexpected: list[str] = field(default_factory=list)  # "<topic>: <reason>" of each other dead letter
    by_topic: Counter[str] = field(default_factory=Counter)


async def read_dead_letters(bootstrap: str, poison: set[bytes]) -> DeadLetters:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t.endswith(DLQ_SUFFIX))
    finally:
        await admin.close()
    out = DeadLetters()
    if not topics:
        return out
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        ends = await consumer.end_offsets(list(consumer.assignment()))
        deadline = time.monotonic() + 30
        seen: Counter[tuple[str, int]] = Counter()
        while any(seen[(tp.topic, tp.partition)] < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                out.unexpected.append("could not read every dead letter within 30 s")
                break
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                seen[(tp.topic, tp.partition)] += len(records)
                for r in records:
                    out.by_topic[r.topic] += 1
                    if r.value in poison:
                        out.poison += 1
                    else:
                        reason = dict(r.headers or ()).get("dlq.reason", b"").decode(errors="replace")
                        out.unexpected.append(f"{r.topic}: {reason[:200]}")
    finally:
        await consumer.stop()
    return out


async def outbox_left(database_url: str) -> dict[str, int]:
    """Unpublished outbox rows (the relay deletes what Kafka acknowledged) and staged batch rows."""
    conn = await asyncpg.connect(database_url)
    try:
        left: dict[str, int] = {}
        for schema in SCHEMAS:
            if await conn.fetchval("SELECT to_regclass($1)", f"{schema}.outbox") is None:
                continue
            rows = await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox")  # noqa: S608 - every row is unsent
            staged = 0
            if await conn.fetchval("SELECT to_regclass($1)", f"{schema}.outbox_batch_rows") is not None:
                staged = await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox_batch_rows")  # noqa: S608
            left[schema] = int(rows) + int(staged)
        return left
    finally:
        await conn.close()


async def wait_outbox_empty(database_url: str, timeout: float) -> dict[str, int]:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        left = await outbox_left(database_url)
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        await asyncio.sleep(1)
