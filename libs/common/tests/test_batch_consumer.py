"""The batch consumer runner on the real broker and database: a partition's events in one transaction,
once in effect, poison isolated to the DLQ, offsets committed after the database."""

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Literal

import asyncpg
import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from bankstream_common.backoff import Backoff
from bankstream_common.envelope import Envelope
from bankstream_common.errors import PermanentError
from bankstream_common.inbox import claim_many
from bankstream_common.kafka.batch_consumer import BatchConsumerRunner
from bankstream_common.kafka.consumer import ConsumerConfig
from bankstream_common.kafka.producer import create_producer
from bankstream_common.kafka.topics import dlq_topic
from bankstream_common.testing.waiting import wait_until
from pydantic import BaseModel

pytestmark = pytest.mark.integration


class Amount(BaseModel):
    amount: int


@pytest.fixture
async def tables(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "CREATE TABLE totals (key text PRIMARY KEY, total bigint NOT NULL, n int NOT NULL);"
        "CREATE TABLE batches (size int NOT NULL)"
    )


@pytest.fixture
async def producer(kafka_bootstrap_servers: str):
    p = create_producer(kafka_bootstrap_servers, client_id="test-producer")
    await p.start()
    yield p
    await p.stop()


async def add_amounts(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
    amounts = [Amount.model_validate(e.data).amount for e in events]
    if any(a < 0 for a in amounts):
        raise PermanentError("negative amounts are not allowed")
    await conn.execute("INSERT INTO batches (size) VALUES ($1)", len(events))
    await conn.executemany(
        "INSERT INTO totals (key, total, n) VALUES ($1, $2, 1) "
        "ON CONFLICT (key) DO UPDATE SET total = totals.total + $2, n = totals.n + 1",
        [(e.subject, a) for e, a in zip(events, amounts, strict=True)],
    )


def _ev(key: str, amount: object) -> Envelope:
    return Envelope.new(
        source="bankstream/test", type="bankstream.test.amount.v1", subject=key, data={"amount": amount}
    )


def _runner(
    kafka: str, topic: str, group: str, pool, producer, metrics, handler=add_amounts
) -> BatchConsumerRunner:
    return BatchConsumerRunner(
        ConsumerConfig(
            name=group,
            topics=[topic],
            bootstrap_servers=kafka,
            backoff=Backoff(base=0.01, cap=0.05, max_attempts=3),
            max_records=1000,
        ),
        pool=pool,
        handler=handler,
        producer=producer,
        metrics=metrics,
    )


async def _run_until(runner: BatchConsumerRunner, predicate, timeout: float = 30.0) -> None:
    task = asyncio.create_task(runner.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await predicate():
            assert loop.time() < deadline, "condition not reached in time"
            assert not task.done(), f"runner died: {task.exception() if task.done() else ''}"
            await asyncio.sleep(0.05)
    finally:
        runner.stop()
        await task


async def _send_all(producer: AIOKafkaProducer, topic: str, items: list[tuple[str, bytes]]) -> None:
    futures = [await producer.send(topic, value=v, key=k.encode()) for k, v in items]
    await asyncio.gather(*futures)


async def _committed(kafka: str, topic: str, group: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        return sum([(await consumer.committed(TopicPartition(topic, p))) or 0 for p in partitions])
    finally:
        await consumer.stop()


async def test_claim_many_returns_each_new_event_once_in_order(pool: asyncpg.Pool) -> None:
    a, b, c = _ev("k", 1), _ev("k", 2), _ev("k", 3)
    async with pool.acquire() as conn, conn.transaction():
        assert await claim_many(conn, "c", [a, b]) == [a, b]
    async with pool.acquire() as conn, conn.transaction():
        assert await claim_many(conn, "c", [b, c, a, c]) == [c]  # b, a applied before; c repeated
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            await claim_many(conn, "c", [a])


async def test_a_batch_applies_once_in_effect_in_one_transaction(
    pool, tables, topic, producer, kafka_bootstrap_servers, metrics, uid
) -> None:
    events = [_ev(f"acct-{i % 3}", 1) for i in range(300)]
    # every event twice (a redelivery), interleaved with the originals
    await _send_all(producer, topic, [(e.subject, e.to_json()) for e in events + events])
    runner = _runner(kafka_bootstrap_servers, topic, f"g-{uid}", pool, producer, metrics)

    async def done() -> bool:
        return await pool.fetchval("SELECT coalesce(sum(n), 0) FROM totals") == 300

    await _run_until(runner, done)
    assert await pool.fetchval("SELECT sum(total) FROM totals") == 300
    # the handler saw batches, not single events
    assert await pool.fetchval("SELECT max(size) FROM batches") > 1
    assert await _committed(kafka_bootstrap_servers, topic, f"g-{uid}") == 600


async def test_a_poison_event_goes_alone_to_the_dlq_and_the_rest_of_its_batch_applies(
    pool, tables, topic, producer, kafka_bootstrap_servers, metrics, uid, read_topic
) -> None:
    good = [_ev("acct-1", 2) for _ in range(20)]
    poison = _ev("acct-1", -5)
    items = [("acct-1", e.to_json()) for e in good[:10]]
    items += [("acct-1", poison.to_json()), ("acct-1", b"{not json")]
    items += [("acct-1", e.to_json()) for e in good[10:]]
    await _send_all(producer, topic, items)
    runner = _runner(kafka_bootstrap_servers, topic, f"g-{uid}", pool, producer, metrics)

    async def done() -> bool:
        return await pool.fetchval("SELECT n FROM totals WHERE key = 'acct-1'") == 20

    await _run_until(runner, done)
    assert await pool.fetchval("SELECT total FROM totals WHERE key = 'acct-1'") == 40
    dead = await read_topic(dlq_topic(topic), at_least=2)
    reasons = sorted(dict(r.headers)["dlq.reason"].decode() for r in dead)
    assert len(dead) == 2
    assert reasons[0].startswith("permanent handler error: negative amounts")
    assert reasons[1].startswith("undecodable envelope")
    assert await _committed(kafka_bootstrap_servers, topic, f"g-{uid}") == len(items)


class AmountStruct(msgspec.Struct):
    amount: int
    unit: Literal["cents"] = "cents"


async def add_amounts_read_by_msgspec(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
    await conn.execute("INSERT INTO batches (size) VALUES ($1)", len(events))
    for e in events:
        amount = msgspec.convert(e.data, AmountStruct).amount  # a msgspec reader (envelope.one_pass)
        await conn.execute(
            "INSERT INTO totals (key, total, n) VALUES ($1, $2, 1) "
            "ON CONFLICT (key) DO UPDATE SET total = totals.total + $2, n = totals.n + 1",
            e.subject,
            amount,
        )


async def test_data_a_msgspec_reader_refuses_is_dead_lettered_as_schema_invalid_without_its_value(
    pool, tables, topic, producer, kafka_bootstrap_servers, metrics, uid, read_topic
) -> None:
    broken = Envelope.new(
        source="bankstream/test",
        type="bankstream.test.amount.v1",
        subject="acct-1",
        data={"amount": 5, "unit": "access-sandbox-secret"},  # msgspec's error quotes a refused enum value
    )
    items = [("acct-1", _ev("acct-1", 3).to_json()), ("acct-1", broken.to_json())]
    items += [("acct-1", _ev("acct-1", 4).to_json())]
    await _send_all(producer, topic, items)
    runner = _runner(
        kafka_bootstrap_servers, topic, f"g-{uid}", pool, producer, metrics, add_amounts_read_by_msgspec
    )

    async def done() -> bool:
        return await pool.fetchval("SELECT n FROM totals WHERE key = 'acct-1'") == 2

    await _run_until(runner, done)
    assert await pool.fetchval("SELECT total FROM totals WHERE key = 'acct-1'") == 7
    [dead] = await read_topic(dlq_topic(topic), at_least=1)
    reason = dict(dead.headers)["dlq.reason"].decode()
    assert reason == "schema-invalid data: Invalid enum value - at `$.unit`", reason
    assert dead.value == broken.to_json()


async def test_the_next_poll_applies_while_a_slow_partition_of_the_previous_one_is_still_in_hand(
    pool, tables, topic, producer, kafka_bootstrap_servers, metrics, uid
) -> None:
    """Polls overlap: a partition's slow batch does not hold back the next poll of the others (it used
    to: every poll ended before the next was read), and its own partition's later records wait for it."""
    entered, release = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def handler(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        if any(e.subject == "slow" for e in events) and not release.is_set():
            entered.set()
            await asyncio.wait_for(release.wait(), 30)
        order.extend(f"{e.subject}:{e.data['amount']}" for e in events)
        await add_amounts(conn, events)

    runner = _runner(kafka_bootstrap_servers, topic, f"g-{uid}", pool, producer, metrics, handler)

    async def total(key: str) -> int:
        return int(await pool.fetchval("SELECT coalesce(sum(total), 0) FROM totals WHERE key = $1", key))

    await producer.send_and_wait(topic, value=_ev("slow", 1).to_json(), partition=0)
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(entered.wait(), 30)
        # sent once the slow batch is in hand, so read by a later poll
        await producer.send_and_wait(topic, value=_ev("fast", 1).to_json(), partition=1)
        await wait_until(lambda: _equals(total("fast"), 1), timeout=15)
        await producer.send_and_wait(topic, value=_ev("slow", 2).to_json(), partition=0)
        assert await total("slow") == 0  # still in hand
        assert not task.done()
    finally:
        release.set()
        await wait_until(lambda: _equals(total("slow"), 3), timeout=30)
        runner.stop()
        await task
    assert order == ["fast:1", "slow:1", "slow:2"]
    assert await _committed(kafka_bootstrap_servers, topic, f"g-{uid}") == 3


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected
