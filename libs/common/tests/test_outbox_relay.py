"""Outbox and relay on the real broker and database: per-key order, prompt wake-up, and crash safety."""

import asyncio
import gc
import json
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.producer.message_accumulator import BatchBuilder
from bankstream_common import outbox
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.producer import create_producer
from bankstream_common.outbox_relay import OutboxRelay, RelayConfig
from bankstream_common.pipeline_metrics import PipelineMetrics
from bankstream_common.relay_sending import Batches, RelaySender

pytestmark = pytest.mark.integration
PROCS = Path(__file__).parent / "procs"


def _event(key: str, seq: int) -> Envelope:
    return Envelope.new(
        source="bankstream/test",
        type="bankstream.test.counted.v1",
        subject=key,
        data={"seq": seq, "amount": 1},
    )


async def _write(pool: asyncpg.Pool, topic: str, keys: int, per_key: int, per_tx: int = 10) -> list[Envelope]:
    """Events written by concurrent transactions; returns them in the order their rows were written."""
    written: list[Envelope] = []

    async def writer(k: int) -> None:
        key = f"key-{k}"
        for start in range(0, per_key, per_tx):
            events = [_event(key, s) for s in range(start, min(start + per_tx, per_key))]
            async with pool.acquire() as conn, conn.transaction():
                await outbox.enqueue_many(conn, [(topic, key, e) for e in events])
            written.extend(events)

    await asyncio.gather(*(writer(k) for k in range(keys)))
    return written


@pytest.fixture
async def producer(kafka_bootstrap_servers: str) -> AsyncIterator[AIOKafkaProducer]:
    started = create_producer(kafka_bootstrap_servers, client_id="relay-test")
    await started.start()
    yield started
    await started.stop()


@pytest.fixture
def relay(
    pool: asyncpg.Pool, schema: str, producer: AIOKafkaProducer, metrics: PipelineMetrics
) -> OutboxRelay:
    """A relay whose units are of 500 rows, on the started producer."""
    return OutboxRelay(
        RelayConfig(schema=schema, batch_size=500), pool=pool, producer=producer, metrics=metrics
    )


def _per_key_first_seen(records: list) -> dict[str, list[int]]:
    seen: set[str] = set()
    order: dict[str, list[int]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        ev = Envelope.from_json(r.value)
        if str(ev.id) in seen:
            continue
        seen.add(str(ev.id))
        assert r.key.decode() == ev.subject
        order[ev.subject].append(ev.data["seq"])
    return order


async def test_enqueue_outside_a_transaction_is_refused(pool: asyncpg.Pool, topic: str) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="inside the caller's transaction"):
            await outbox.enqueue(conn, topic=topic, key="k", event=_event("k", 0))


@pytest.mark.parametrize("rows", [1, outbox.COPY_FROM_ROWS], ids=["insert", "copy"])
async def test_rolled_back_events_are_never_published(pool: asyncpg.Pool, topic: str, rows: int) -> None:
    with pytest.raises(ZeroDivisionError):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue_many(conn, [(topic, "k", _event("k", i)) for i in range(rows)])
            assert await conn.fetchval("SELECT count(*) FROM outbox") == rows  # written, then undone
            raise ZeroDivisionError
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


@pytest.mark.parametrize(
    ("per_key", "per_tx"),
    [(60, 10), (2 * outbox.COPY_FROM_ROWS, outbox.COPY_FROM_ROWS)],
    ids=["insert", "copy"],  # the two ways enqueue writes its rows
)
async def test_relay_publishes_in_order_per_key_and_wakes_on_notify(
    pool: asyncpg.Pool,
    schema: str,
    topic: str,
    kafka_bootstrap_servers: str,
    metrics: PipelineMetrics,
    read_topic,
    per_key: int,
    per_tx: int,
) -> None:
    producer = create_producer(kafka_bootstrap_servers, client_id="relay-test")
    await producer.start()
    relay = OutboxRelay(
        RelayConfig(schema=schema, batch_size=100, poll_interval=30.0),
        pool=pool,
        producer=producer,
        metrics=metrics,
    )
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(relay.leading.wait(), 10)
        await asyncio.sleep(0.5)  # its first look found nothing: it sleeps until woken
        written = await _write(pool, topic, keys=8, per_key=per_key, per_tx=per_tx)
        # poll_interval is 30 s: only NOTIFY can make this finish in time
        records = await read_topic(topic, at_least=len(written), timeout=20)
    finally:
        relay.stop()
        await task
        await producer.stop()
    order = _per_key_first_seen(records)
    assert sum(len(v) for v in order.values()) == len(written)
    assert all(seqs == list(range(per_key)) for seqs in order.values()), "per-key order broken"
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    headers = dict(records[0].headers)
    assert headers["content-type"] == b"application/cloudevents+json"
    assert headers["ce_type"] == b"bankstream.test.counted.v1"


async def test_second_relay_waits_while_the_first_leads(
    pool: asyncpg.Pool, schema: str, kafka_bootstrap_servers: str, metrics: PipelineMetrics
) -> None:
    producer = create_producer(kafka_bootstrap_servers, client_id="relay-test")
    await producer.start()
    first = OutboxRelay(RelayConfig(schema=schema), pool=pool, producer=producer, metrics=metrics)
    second = OutboxRelay(RelayConfig(schema=schema), pool=pool, producer=producer, metrics=metrics)
    t1 = asyncio.create_task(first.run())
    await asyncio.wait_for(first.leading.wait(), 10)
    t2 = asyncio.create_task(second.run())
    await asyncio.sleep(1.5)
    assert not second.leading.is_set()
    first.stop()
    await t1
    await asyncio.wait_for(second.leading.wait(), 10)
    second.stop()
    await t2
    await producer.stop()


async def test_relay_killed_mid_batch_loses_nothing(
    database_url: str, pool: asyncpg.Pool, schema: str, topic: str, kafka_bootstrap_servers: str, read_topic
) -> None:
    written = await _write(pool, topic, keys=10, per_key=1000, per_tx=250)
    argv = [
        sys.executable,
        str(PROCS / "relay_main.py"),
        database_url,
        schema,
        kafka_bootstrap_servers,
        "500",
    ]
    kills = 0
    for _ in range(3):  # kill it three times while rows are still unsent, then let one finish
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"relay started\n"
            before = await pool.fetchval("SELECT count(*) FROM outbox")
            for _ in range(400):  # wait until this relay has published (and deleted) at least one batch
                if await pool.fetchval("SELECT count(*) FROM outbox") < before:
                    break
                await asyncio.sleep(0.01)
            unsent = await pool.fetchval("SELECT count(*) FROM outbox")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        if unsent:
            kills += 1
    assert kills >= 1, "the relay finished before it could be killed"
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if await pool.fetchval("SELECT count(*) FROM outbox") == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(10)
    records = await read_topic(topic, at_least=len(written), timeout=30)
    order = _per_key_first_seen(records)
    assert {str(e.id) for e in written} == {str(Envelope.from_json(r.value).id) for r in records}
    assert all(seqs == list(range(1000)) for seqs in order.values()), "per-key order broken by the crash"


async def test_headers_given_at_enqueue_travel_with_the_event(
    pool: asyncpg.Pool,
    schema: str,
    topic: str,
    kafka_bootstrap_servers: str,
    metrics: PipelineMetrics,
    read_topic,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(
            conn, topic=topic, key="k", event=_event("k", 0), headers=[("traceparent", b"00-abc-def-01")]
        )
    stored = await pool.fetchval("SELECT headers FROM outbox")
    assert json.loads(stored) == [["traceparent", "00-abc-def-01"]]
    producer = create_producer(kafka_bootstrap_servers, client_id="relay-test")
    await producer.start()
    relay = OutboxRelay(RelayConfig(schema=schema), pool=pool, producer=producer, metrics=metrics)
    assert await relay.publish_available() == 1
    await producer.stop()
    (record,) = await read_topic(topic, at_least=1)
    assert dict(record.headers)["traceparent"] == b"00-abc-def-01"
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0, "published rows are deleted"


async def test_many_rows_are_stored_in_their_order_with_their_headers(pool: asyncpg.Pool, topic: str) -> None:
    events = [_event(f"k{i % 3}", i) for i in range(outbox.COPY_FROM_ROWS + 5)]  # written by COPY
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue_many(
            conn, [(topic, e.subject, e) for e in events], headers=[("traceparent", b"00-abc-def-01")]
        )
    rows = await pool.fetch(
        "SELECT event_id, key, event_type, payload, headers FROM outbox ORDER BY position"
    )
    assert [r["event_id"] for r in rows] == [e.id for e in events]
    assert [(r["key"], r["event_type"], bytes(r["payload"])) for r in rows] == [
        (e.subject, e.type, e.to_json()) for e in events
    ]
    assert {r["headers"] for r in rows} == {json.dumps([["traceparent", "00-abc-def-01"]])}


async def test_each_record_of_a_unit_carries_its_own_type_and_headers(
    pool: asyncpg.Pool, topic: str, producer: AIOKafkaProducer, relay: OutboxRelay, read_topic
) -> None:
    """A unit's rows share header lists by (type, stored headers): rows of other types or headers, in
    the same batches, must still carry their own."""
    traced = [("traceparent", b"00-abc-def-01")]
    async with pool.acquire() as conn, conn.transaction():
        for seq in range(30):
            event = _event("k", seq)
            if seq % 3 == 1:
                event = event.model_copy(update={"type": "bankstream.test.other.v1"})
            await outbox.enqueue(
                conn, topic=topic, key="k", event=event, headers=traced if seq % 5 == 0 else ()
            )
    assert await relay.publish_available() == 30
    records = await read_topic(topic, at_least=30)
    assert [json.loads(r.value)["data"]["seq"] for r in records] == list(range(30))
    for seq, record in enumerate(records):
        headers = dict(record.headers)
        kind = b"bankstream.test.other.v1" if seq % 3 == 1 else b"bankstream.test.counted.v1"
        assert headers["ce_type"] == kind, seq
        assert headers.get("traceparent") == (b"00-abc-def-01" if seq % 5 == 0 else None), seq


class _LateCommitRelay(OutboxRelay):
    """Runs `between` once, right after the first batch was handed to Kafka and before the next fetch."""

    between = None

    async def _send(self, rows):  # type: ignore[no-untyped-def]
        sent = await super()._send(rows)
        if self.between is not None:
            hook, self.between = self.between, None
            await hook()
        return sent


async def test_a_late_commit_with_a_lower_position_still_goes_out_first_for_its_key(
    pool: asyncpg.Pool,
    schema: str,
    topic: str,
    kafka_bootstrap_servers: str,
    metrics: PipelineMetrics,
    read_topic,
) -> None:
    # key-A's first event takes the lowest position but commits late, after key-B's rows ...
    slow = await pool.acquire()
    slow_tx = slow.transaction()
    await slow_tx.start()
    await outbox.enqueue(slow, topic=topic, key="key-A", event=_event("key-A", 0))
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue_many(conn, [(topic, "key-B", _event("key-B", s)) for s in range(5)])

    async def commit_late_then_write_next() -> None:
        # ... and lands, with key-A's next event, while the relay's first batch (key-B) is in flight
        await slow_tx.commit()
        await pool.release(slow)
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, topic=topic, key="key-A", event=_event("key-A", 1))

    producer = create_producer(kafka_bootstrap_servers, client_id="relay-test")
    await producer.start()
    relay = _LateCommitRelay(RelayConfig(schema=schema), pool=pool, producer=producer, metrics=metrics)
    relay.between = commit_late_then_write_next
    try:
        assert await relay.publish_available() == 7
    finally:
        await producer.stop()
    order = _per_key_first_seen(await read_topic(topic, at_least=7))
    assert order["key-B"] == [0, 1, 2, 3, 4]
    assert order["key-A"] == [0, 1], "key-A's later event overtook its earlier one"


async def test_a_released_batch_goes_out_in_seq_order_at_its_place_and_an_unreleased_one_never(
    pool: asyncpg.Pool,
    database_url: str,
    schema: str,
    topic: str,
    kafka_bootstrap_servers: str,
    metrics: PipelineMetrics,
    read_topic,
) -> None:
    def rows(events: list[Envelope], start: int = -3) -> list[outbox.BatchRow]:
        return [(i, str(e.id), topic, "k", e.type, e.to_json()) for i, e in enumerate(events, start=start)]

    before = [_event("k", n) for n in range(5)]
    batch = [_event("k", n) for n in range(5, 2505)]  # cut over three relay units of 1,000
    after = [_event("k", n) for n in range(2505, 2510)]
    small = [_event("k", n) for n in range(2510, 2513)]  # sent in one unit with plain rows around it
    tail = [_event("k", n) for n in range(2513, 2515)]
    released, abandoned, empty, small_batch = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as conn:
        async with conn.transaction():
            await outbox.enqueue_many(conn, [(topic, "k", e) for e in before])
        for start in reversed(range(0, len(batch), 700)):  # page by page, outside any transaction,
            # last page first: the table's physical order is not the batch's order
            await outbox.stage_batch(conn, released, "item-1", rows(batch)[start : start + 700])
        await outbox.stage_batch(conn, abandoned, "item-2", rows([_event("k", -1)]))
        await outbox.stage_batch(conn, small_batch, "item-3", rows(small, start=0))
        async with conn.transaction():
            assert await outbox.release_batch(conn, released) == len(batch)
            assert await outbox.release_batch(conn, empty) == 0
            await outbox.enqueue_many(conn, [(topic, "k", e) for e in after])
        async with conn.transaction():
            assert await outbox.release_batch(conn, small_batch) == len(small)
            await outbox.enqueue_many(conn, [(topic, "k", e) for e in tail])
    producer = create_producer(kafka_bootstrap_servers, client_id="relay-test")
    await producer.start()
    # no index scans: rows come back in the table's physical order, as from a large batch's bitmap scan
    settings = {"search_path": f"{schema}, public", "enable_indexscan": "off"}
    relay_pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4, server_settings=settings)
    relay = OutboxRelay(
        RelayConfig(schema=schema, batch_size=1000), pool=relay_pool, producer=producer, metrics=metrics
    )
    try:
        assert await relay.publish_available() == 2515
    finally:
        await producer.stop()
        await relay_pool.close()
    records = await read_topic(topic, at_least=2515, timeout=20)
    assert _per_key_first_seen(records)["k"] == list(range(2515))
    assert len(records) == 2515 and dict(records[7].headers)["ce_type"] == b"bankstream.test.counted.v1"
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    left = await pool.fetch("SELECT DISTINCT batch_id FROM outbox_batch_rows")
    assert [r["batch_id"] for r in left] == [abandoned]  # never released: never published
    await outbox.discard_unreleased(pool, "item-2")
    assert await pool.fetchval("SELECT count(*) FROM outbox_batch_rows") == 0


async def test_a_batch_with_a_gap_in_its_seq_is_refused_and_nothing_is_released(pool: asyncpg.Pool) -> None:
    events = [_event("k", n) for n in range(3)]
    batch = uuid.uuid4()
    gapped = [
        (seq, str(e.id), "t", "k", e.type, e.to_json()) for seq, e in zip((1, 2, 4), events, strict=True)
    ]
    async with pool.acquire() as conn:
        await outbox.stage_batch(conn, batch, "item-1", gapped)
        with pytest.raises(ValueError, match="not contiguous"):
            async with conn.transaction():
                await outbox.release_batch(conn, batch)
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


class _FailingProducer:
    """A real producer that fails once, handing over the `fail_at`-th event, alone (`send`) or in a record
    batch (`send_batch`): a broker lost mid-batch."""

    def __init__(self, producer, fail_at: int) -> None:
        self._producer, self._left = producer, fail_at

    def _hand_over(self, records: int) -> None:
        before, self._left = self._left, self._left - records
        if before > 0 >= self._left:
            raise KafkaConnectionError("broker lost (test)")

    async def send(self, *args, **kwargs):
        self._hand_over(1)
        return await self._producer.send(*args, **kwargs)

    def create_batch(self):
        return _CountedBatch(self._producer.create_batch())

    async def send_batch(self, batch, topic, *, partition):
        self._hand_over(batch.records)
        return await self._producer.send_batch(batch.builder, topic, partition=partition)

    async def send_and_wait(self, *args, **kwargs):
        return await (await self.send(*args, **kwargs))

    async def partitions_for(self, topic: str):
        return await self._producer.partitions_for(topic)


class _CountedBatch:
    def __init__(self, builder) -> None:
        self.builder, self.records = builder, 0

    def append(self, **kwargs):
        meta = self.builder.append(**kwargs)
        self.records += meta is not None
        return meta


async def test_a_batch_cut_by_a_failure_stays_released_and_the_next_relay_sends_the_rest(
    pool: asyncpg.Pool,
    schema: str,
    topic: str,
    kafka_bootstrap_servers: str,
    metrics: PipelineMetrics,
    read_topic,
) -> None:
    events = [_event("k", n) for n in range(3500)]
    batch = uuid.uuid4()
    rows = [(i, str(e.id), topic, "k", e.type, e.to_json()) for i, e in enumerate(events)]
    async with pool.acquire() as conn:
        await outbox.stage_batch(conn, batch, "item-1", rows)
        async with conn.transaction():
            await outbox.release_batch(conn, batch)
    producer = create_producer(kafka_bootstrap_servers, client_id="relay-test")
    await producer.start()
    try:
        config = RelayConfig(schema=schema, batch_size=1000)
        failing = OutboxRelay(config, pool=pool, producer=_FailingProducer(producer, 3300), metrics=metrics)  # type: ignore[arg-type]
        with pytest.raises(KafkaConnectionError):
            await failing.publish_available()  # fails in its 4th unit, the batch's last: the 1st is deleted
        left = await pool.fetchval("SELECT count(*) FROM outbox_batch_rows WHERE batch_id = $1", batch)
        assert 0 < left < len(events)
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE batch_id = $1", batch) == 1
        relay = OutboxRelay(config, pool=pool, producer=producer, metrics=metrics)
        assert await relay.publish_available() == left
    finally:
        await producer.stop()
    records = await read_topic(topic, at_least=len(events), timeout=20)
    assert _per_key_first_seen(records)["k"] == list(range(len(events)))
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox_batch_rows") == 0


async def test_a_units_records_fill_several_record_batches_in_order_and_each_record_counts(
    pool: asyncpg.Pool, topic: str, relay: OutboxRelay, metrics: PipelineMetrics, read_topic
) -> None:
    """The relay fills record batches itself (relay_sending.Batches): one key's 3 MB in one unit take
    several batches, handed over in order; every record is counted once, not once per batch."""
    pad = "x" * 100_000
    big = [Envelope.new(source="bankstream/test", type="bankstream.test.counted.v1", subject="big",
                        data={"seq": n, "pad": pad}) for n in range(30)]  # fmt: skip
    small = [_event(f"key-{n % 7}", n // 7) for n in range(70)]
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue_many(conn, [(topic, e.subject, e) for e in big + small])
    assert await relay.publish_available() == 100  # one unit: the first record of each partition
    assert await relay.publish_available() == 0  # goes alone, the rest in batches
    records = await read_topic(topic, at_least=100, timeout=20)
    order = _per_key_first_seen(records)
    assert order["big"] == list(range(30))
    assert all(order[f"key-{k}"] == list(range(10)) for k in range(7))
    assert len(records) == 100
    published = metrics.outbox_published.labels(topic)._value.get()
    assert published == 100


async def test_a_partition_that_turns_cold_while_its_batch_is_open_keeps_the_keys_order(
    pool: asyncpg.Pool, topic: str, relay: OutboxRelay, read_topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partition counts as warm for an hour after a record sent alone. When that hour ends in the middle
    of a unit whose batch for the partition is open, the next record must join the batch: sent alone,
    it would reach Kafka before the batch's earlier records."""
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, topic=topic, key="k", event=_event("k", 0))
    assert await relay.publish_available() == 1  # the partition is warm now
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue_many(conn, [(topic, "k", _event("k", n)) for n in range(1, 11)])
    warm, calls = RelaySender._warm, 0

    def turning_cold(self: RelaySender, *args: object) -> bool:
        nonlocal calls
        calls += 1
        return False if calls >= 5 else warm(self, *args)  # the hour ends at the unit's 5th record

    monkeypatch.setattr(RelaySender, "_warm", turning_cold)
    assert await relay.publish_available() == 10
    records = await read_topic(topic, at_least=11, timeout=20)
    assert _per_key_first_seen(records)["k"] == list(range(11))


async def test_an_abandoned_unit_leaves_no_acknowledgement_unread() -> None:
    """The relay abandons a unit (cancels its acknowledgement future) after a failure; the batches' own
    futures, which fail when the producer is thrown away, must not be left with an unread exception."""
    loop = asyncio.get_running_loop()
    unread: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: unread.append(context))
    inner: asyncio.Future = loop.create_future()

    class Producer:  # what Batches uses of aiokafka's producer: its batch builders and send_batch
        def create_batch(self) -> BatchBuilder:
            return BatchBuilder(512 * 1024, 0)

        async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> asyncio.Future:
            return asyncio.shield(inner)  # as aiokafka's: the batch's future behind a shield

    batches = Batches(Producer())  # type: ignore[arg-type]
    await batches.add("t", 0, b"k", b"v", [])
    acks = await batches.submit()
    acks.cancel()  # abandoned at once
    await asyncio.sleep(0)
    inner.set_exception(KafkaConnectionError("producer discarded (test)"))
    del acks, batches
    await asyncio.sleep(0)
    gc.collect()
    await asyncio.sleep(0)
    assert unread == []
