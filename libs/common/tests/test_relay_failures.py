"""The relay when things go wrong, on the real broker and database (issue #10, defects 3 and 4): a relay
that loses its lock stops publishing before another leads, and a record the broker refuses is
dead-lettered without breaking any key's order or wedging the relay."""

import asyncio
from collections import defaultdict

import asyncpg
import pytest
from bankstream_common import outbox
from bankstream_common.db import create_pool
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.producer import create_producer
from bankstream_common.kafka.topics import TopicSpec, dlq_topic, ensure_topics
from bankstream_common.outbox_relay import OutboxRelay, RelayConfig
from bankstream_common.pipeline_metrics import PipelineMetrics
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.integration


def _event(key: str, seq: int, pad: int = 0) -> Envelope:
    data: dict[str, object] = {"seq": seq}
    if pad:
        data["pad"] = "x" * pad
    return Envelope.new(source="bankstream/test", type="bankstream.test.counted.v1", subject=key, data=data)


def _per_key_first_seen(records: list) -> dict[str, list[int]]:
    seen: set[str] = set()
    order: dict[str, list[int]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        ev = Envelope.from_json(r.value)
        if str(ev.id) not in seen:
            seen.add(str(ev.id))
            order[ev.subject].append(ev.data["seq"])
    return order


async def _until(predicate, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, f"{what}: not reached within {timeout} s"
        await asyncio.sleep(0.02)


class _Stamped(asyncio.Event):
    """`relay.leading`, remembering when it was last set."""

    at = float("inf")

    def set(self) -> None:
        self.at = asyncio.get_running_loop().time()
        super().set()


class _Recording(OutboxRelay):
    """Remembers when each unit it handed to Kafka started being handed over."""

    def __init__(self, *args, sends: list[float], **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.sends = sends
        self.leading = _Stamped()

    async def _send(self, rows):  # type: ignore[no-untyped-def]
        started = asyncio.get_running_loop().time()
        sent = await super()._send(rows)
        self.sends.append(started)
        return sent


async def test_a_relay_that_loses_its_lock_stops_publishing_before_another_leads_and_leads_again_later(
    database_url: str, pool: asyncpg.Pool, schema: str, topic: str, kafka_bootstrap_servers: str, read_topic
) -> None:
    pools = [await create_pool(database_url, schema=schema, max_size=4) for _ in range(2)]
    producers = [create_producer(kafka_bootstrap_servers, client_id=f"relay-{n}") for n in range(2)]
    for p in producers:
        await p.start()
    sends: tuple[list[float], list[float]] = ([], [])
    relays = [
        _Recording(
            RelayConfig(schema=schema, batch_size=20, poll_interval=0.05),
            pool=pools[n],
            producer=producers[n],
            metrics=PipelineMetrics(f"r{n}", CollectorRegistry()),
            sends=sends[n],
        )
        for n in range(2)
    ]
    a, b = relays
    tasks = [asyncio.create_task(a.run())]
    written: dict[str, int] = defaultdict(int)
    writing = asyncio.Event()

    async def writer() -> None:  # 6 keys, 5 events per key per transaction, until told to stop
        while not writing.is_set():
            async with pool.acquire() as conn, conn.transaction():
                batch = []
                for k in range(6):
                    key = f"key-{k}"
                    batch += [(topic, key, _event(key, written[key] + s)) for s in range(5)]
                await outbox.enqueue_many(conn, batch)
            for k in range(6):
                written[f"key-{k}"] += 5
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(a.leading.wait(), 10)
        tasks.append(asyncio.create_task(b.run()))
        writing_task = asyncio.create_task(writer())
        await _until(lambda: _true(len(sends[0]) >= 20), 20, "the first relay publishing")
        lock_pid = await pool.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
            " AND objid = hashtext($1)::oid",
            schema,
        )
        assert lock_pid is not None
        assert await pool.fetchval("SELECT pg_terminate_backend($1)", lock_pid)
        await asyncio.wait_for(b.leading.wait(), 10)
        await _until(lambda: _true(len(sends[1]) >= 20), 20, "the second relay publishing")
        late = [t for t in sends[0] if t >= b.leading.at]
        assert not late, f"the relay that lost its lock handed {len(late)} units to Kafka after another led"
        assert not a.leading.is_set(), "the relay that lost its lock still says it leads"
        writing.set()
        await writing_task
        await _until(lambda: _empty(pool), 30, "the outbox drained")
        b.stop()  # the first relay takes over again, and publishes what comes next
        await tasks[1]
        assert not tasks[0].done(), tasks[0].exception()
        await asyncio.wait_for(a.leading.wait(), 10)
        before = len(sends[0])
        writing.clear()
        writing_task = asyncio.create_task(writer())
        await asyncio.sleep(0.5)
        writing.set()
        await writing_task
        await _until(lambda: _empty(pool), 30, "the outbox drained again")
        assert len(sends[0]) > before
    finally:
        writing.set()
        for relay in relays:
            relay.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in producers:
            await p.stop()
        for p in pools:
            await p.close()
    total = sum(written.values())
    order = _per_key_first_seen(await read_topic(topic, at_least=total, timeout=30))
    assert {k: len(v) for k, v in order.items()} == dict(written), "an event is missing from the stream"
    for key, seqs in order.items():
        assert seqs == list(range(written[key])), f"{key} out of order"


async def test_an_idle_relay_notices_at_once_that_it_lost_its_lock_and_takes_it_again(
    pool: asyncpg.Pool, schema: str, topic: str, kafka_bootstrap_servers: str, metrics: PipelineMetrics
) -> None:
    producer = create_producer(kafka_bootstrap_servers, client_id="relay-test")
    await producer.start()
    relay = OutboxRelay(
        RelayConfig(schema=schema, poll_interval=30.0, rejoin_after=0.5),
        pool=pool,
        producer=producer,
        metrics=metrics,
    )
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(relay.leading.wait(), 10)
        lock_pid = await pool.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = hashtext($1)::oid",
            schema,
        )
        await pool.execute("SELECT pg_terminate_backend($1)", lock_pid)
        await _until(lambda: _true(not relay.leading.is_set()), 2, "the relay saying it no longer leads")
        assert metrics.outbox_leadership_lost._value.get() == 1
        await asyncio.wait_for(relay.leading.wait(), 10)  # nobody else holds it: it leads again
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, topic=topic, key="k", event=_event("k", 0))
        await _until(lambda: _empty(pool), 5, "the outbox drained (woken by NOTIFY on the new connection)")
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await producer.stop()


async def _true(value: bool) -> bool:
    return value


async def _empty(pool: asyncpg.Pool) -> bool:
    return await pool.fetchval("SELECT count(*) FROM outbox") == 0


TOPIC_LIMIT = 600_000  # the test topic's max.message.bytes (above the producer's 512 KiB batches)


async def test_records_the_broker_refuses_are_dead_lettered_and_every_key_keeps_its_order(
    pool: asyncpg.Pool,
    schema: str,
    uid: str,
    kafka_bootstrap_servers: str,
    metrics: PipelineMetrics,
    read_topic,
) -> None:
    topic = f"test.limit.{uid}"
    await ensure_topics(
        kafka_bootstrap_servers,
        [TopicSpec(topic, partitions=2, config={"max.message.bytes": str(TOPIC_LIMIT)})],
    )
    # refused by the topic: the first record of all (the producer has written nothing there yet), one in
    # the middle of a key; and one over 1 MB, never offered to the broker
    poison = {("key-3", 0): 700_000, ("key-1", 30): 700_000, ("key-2", 41): 1_500_000}
    keys, per_key = 4, 60
    for start in range(0, per_key, 5):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue_many(
                conn,
                [
                    (topic, f"key-{k}", _event(f"key-{k}", s, poison.get((f"key-{k}", s), 0)))
                    for k in range(keys)
                    for s in range(start, start + 5)
                ],
            )
    producer = create_producer(kafka_bootstrap_servers, client_id="relay-test")
    await producer.start()
    relay = OutboxRelay(
        RelayConfig(schema=schema, batch_size=10, poll_interval=0.05),
        pool=pool,
        producer=producer,
        metrics=metrics,
    )
    task = asyncio.create_task(relay.run())
    try:
        await _until(lambda: _empty(pool), 60, "the outbox drained")
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await producer.stop()
    order = _per_key_first_seen(await read_topic(topic, at_least=keys * per_key - len(poison), timeout=20))
    for k in range(keys):
        key = f"key-{k}"
        assert order[key] == [s for s in range(per_key) if (key, s) not in poison], f"{key}: order or gap"
    dead = await read_topic(dlq_topic(topic), at_least=len(poison))
    assert len(dead) == len(poison)
    by_key = {r.key.decode(): dict(r.headers) for r in dead}
    assert (
        by_key["key-1"]["dlq.error_class"]
        == by_key["key-3"]["dlq.error_class"]
        == b"MessageSizeTooLargeError"
    )
    assert by_key["key-2"]["dlq.payload"] == b"stripped"
    assert all(h["dlq.original_topic"] == topic.encode() and h["dlq.reason"] for h in by_key.values())
    assert metrics.outbox_dead_lettered.labels(topic)._value.get() == len(poison)


async def test_a_refused_batch_on_a_partition_new_to_the_producer_lets_nothing_after_it_overtake(
    pool: asyncpg.Pool,
    schema: str,
    uid: str,
    kafka_bootstrap_servers: str,
    metrics: PipelineMetrics,
    read_topic,
) -> None:
    # A topic allowing 100 kB batches, and its first rows: one key's events, the third too large for it.
    # Kafka accepts any sequence from a producer it has no state for on a partition: had the records
    # queued after the refused batch been sent, they would land before the refused batch's first two,
    # which go out again after the failure.
    topic = f"test.small.{uid}"
    await ensure_topics(
        kafka_bootstrap_servers, [TopicSpec(topic, partitions=1, config={"max.message.bytes": "100000"})]
    )
    per_key = 40
    for start in range(0, per_key, 2):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue_many(
                conn,
                [(topic, "k", _event("k", s, 200_000 if s == 2 else 0)) for s in range(start, start + 2)],
            )
    producer = create_producer(kafka_bootstrap_servers, client_id="relay-test")
    await producer.start()
    relay = OutboxRelay(
        RelayConfig(schema=schema, batch_size=4, poll_interval=0.05),
        pool=pool,
        producer=producer,
        metrics=metrics,
    )
    task = asyncio.create_task(relay.run())
    try:
        await _until(lambda: _empty(pool), 60, "the outbox drained")
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await producer.stop()
    order = _per_key_first_seen(await read_topic(topic, at_least=per_key - 1, timeout=20))
    assert order["k"] == [s for s in range(per_key) if s != 2]
    assert metrics.outbox_dead_lettered.labels(topic)._value.get() == 1
