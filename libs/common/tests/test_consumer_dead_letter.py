"""The consumer's dead-letter path and offsets on the real broker: it never wedges, stops at any time, and
never loses track of what it applied (issue #10, defect 6)."""

import asyncio

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError
from bankstream_common.backoff import Backoff
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.consumer import ConsumerConfig, ConsumerRunner
from bankstream_common.kafka.producer import create_producer
from bankstream_common.kafka.topics import TopicSpec, dlq_topic, ensure_topics

pytestmark = pytest.mark.integration

BIG = 2 * 1024 * 1024  # accepted by a topic allowing 3 MiB, refused by a DLQ at Kafka's default (~1 MiB)


async def count(conn: asyncpg.Connection, event: Envelope) -> None:
    await conn.execute("INSERT INTO seen (id, key) VALUES ($1, $2)", event.id, event.subject)


def _ev(key: str) -> Envelope:
    return Envelope.new(source="bankstream/test", type="bankstream.test.seen.v1", subject=key, data={})


@pytest.fixture
async def seen(pool: asyncpg.Pool) -> None:
    await pool.execute("CREATE TABLE seen (id uuid PRIMARY KEY, key text NOT NULL)")


@pytest.fixture
async def producer(kafka_bootstrap_servers: str):
    p = create_producer(kafka_bootstrap_servers, client_id="test-producer")
    await p.start()
    yield p
    await p.stop()


def _runner(
    kafka: str, topic: str, group: str, pool, producer, metrics, cls=ConsumerRunner
) -> ConsumerRunner:
    return cls(
        ConsumerConfig(
            name=group,
            topics=[topic],
            bootstrap_servers=kafka,
            backoff=Backoff(base=0.01, cap=0.05, max_attempts=3),
        ),
        pool=pool,
        handler=count,
        producer=producer,
        metrics=metrics,
    )


async def _wait(predicate, task: asyncio.Task, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "condition not reached in time"
        assert not task.done(), f"runner died: {task.exception() if task.done() else ''}"
        await asyncio.sleep(0.05)


async def _stop(runner: ConsumerRunner, task: asyncio.Task, within: float = 5.0) -> None:
    runner.stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), within)
    except TimeoutError:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        pytest.fail(f"the runner did not stop within {within} s of stop()")


async def _committed(kafka: str, group: str, tp: TopicPartition) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(tp)
    finally:
        await consumer.stop()


async def test_a_poison_too_large_for_its_dlq_is_dead_lettered_stripped_and_the_partition_goes_on(
    pool, seen, producer, kafka_bootstrap_servers, metrics, uid, read_topic
) -> None:
    topic = f"test.big.{uid}"
    await ensure_topics(
        kafka_bootstrap_servers, [TopicSpec(topic, partitions=2, config={"max.message.bytes": str(3 * BIG)})]
    )
    before, after = _ev("k"), _ev("k")
    await producer.send_and_wait(topic, before.to_json(), key=b"k")
    await producer.send_and_wait(topic, b"\x00" * BIG, key=b"k", headers=[("traceparent", b"t-1")])
    await producer.send_and_wait(topic, after.to_json(), key=b"k")
    runner = _runner(kafka_bootstrap_servers, topic, f"g-{uid}", pool, producer, metrics)
    task = asyncio.create_task(runner.run())

    async def both_applied() -> bool:
        return await pool.fetchval("SELECT count(*) FROM seen") == 2

    try:
        await _wait(both_applied, task)
    finally:
        await _stop(runner, task)
    (dead,) = await read_topic(dlq_topic(topic), at_least=1)
    headers = dict(dead.headers)
    assert headers["dlq.reason"].decode().startswith("undecodable envelope")
    assert int(headers["dlq.original_bytes"]) == BIG
    assert headers["dlq.payload"] == b"stripped"
    assert headers["traceparent"] == b"t-1" and dead.key == b"k"
    assert len(dead.value) < 1024 * 1024
    assert metrics.consumed.labels(topic, "dead_lettered")._value.get() == 1


async def test_a_poison_whose_key_is_too_large_for_its_dlq_is_dead_lettered_bare_and_the_partition_goes_on(
    pool, seen, producer, kafka_bootstrap_servers, metrics, uid, read_topic
) -> None:
    topic = f"test.bigkey.{uid}"
    await ensure_topics(kafka_bootstrap_servers, [TopicSpec(topic, partitions=1)])  # Kafka's default size
    key = b"k" * 1_048_400  # fits its topic, but not once the dlq.* headers are added
    await producer.send_and_wait(topic, b"not json", key=key, headers=[("traceparent", b"t-1")])
    await producer.send_and_wait(topic, _ev("k").to_json(), key=b"k")
    runner = _runner(kafka_bootstrap_servers, topic, f"g-{uid}", pool, producer, metrics)
    task = asyncio.create_task(runner.run())

    async def applied() -> bool:
        return await pool.fetchval("SELECT count(*) FROM seen") == 1

    try:
        await _wait(applied, task, timeout=30.0)
    finally:
        await _stop(runner, task)
    (dead,) = await read_topic(dlq_topic(topic), at_least=1)
    headers = dict(dead.headers)
    assert dead.key is None and dead.value == b"" and "traceparent" not in headers
    assert int(headers["dlq.original_key_bytes"]) == len(key)
    assert int(headers["dlq.original_headers_bytes"]) == len("traceparent") + len(b"t-1")
    assert headers["dlq.payload"] == b"stripped" and int(headers["dlq.original_bytes"]) == len(b"not json")
    assert headers["dlq.reason"].decode().startswith("undecodable envelope")
    assert headers["dlq.original_topic"] == topic.encode() and headers["dlq.original_offset"] == b"0"
    assert metrics.consumed.labels(topic, "dead_lettered")._value.get() == 1


async def test_stop_returns_while_the_dlq_is_unwritable_and_the_poison_is_not_skipped(
    pool, seen, producer, kafka_bootstrap_servers, metrics, uid
) -> None:
    topic = f"test.nodlq.{uid}"  # its DLQ does not exist, and the broker creates no topic by itself
    await ensure_topics(kafka_bootstrap_servers, [TopicSpec(topic, partitions=1, dead_letter=False)])
    good = _ev("k")
    await producer.send_and_wait(topic, b"not json", key=b"k")
    await producer.send_and_wait(topic, good.to_json(), key=b"k")
    group = f"g-{uid}"
    runner = _runner(kafka_bootstrap_servers, topic, group, pool, producer, metrics)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(runner.started.wait(), 10)
    await asyncio.sleep(3.0)  # the runner is stuck on the DLQ write by now
    assert await pool.fetchval("SELECT count(*) FROM seen") == 0
    await _stop(runner, task)
    assert await _committed(kafka_bootstrap_servers, group, TopicPartition(topic, 0)) in (None, 0)
    # once the DLQ exists, the next runner dead-letters the poison and applies what follows it
    await ensure_topics(kafka_bootstrap_servers, [TopicSpec(topic, partitions=1)])
    runner = _runner(kafka_bootstrap_servers, topic, group, pool, producer, metrics)
    task = asyncio.create_task(runner.run())

    async def applied() -> bool:
        return await pool.fetchval("SELECT count(*) FROM seen") == 1

    try:
        await _wait(applied, task)
    finally:
        await _stop(runner, task)
    assert await _committed(kafka_bootstrap_servers, group, TopicPartition(topic, 0)) == 2


class _CommitFailsOnce(ConsumerRunner):
    """The broker refuses the first offset commit (a generation that moved on, a coordinator that moved)."""

    failed = False

    async def _commit_offsets(self, offsets) -> None:  # type: ignore[no-untyped-def]
        if not self.failed:
            self.failed = True
            raise CommitFailedError("refused (test)")
        await super()._commit_offsets(offsets)


async def test_offsets_of_a_failed_commit_are_remembered_until_a_commit_succeeds(
    pool, seen, producer, topic, kafka_bootstrap_servers, metrics, uid
) -> None:
    for _ in range(5):
        await producer.send_and_wait(topic, _ev("k").to_json(), key=b"k", partition=0)
    group = f"g-{uid}"
    runner = _runner(kafka_bootstrap_servers, topic, group, pool, producer, metrics, cls=_CommitFailsOnce)
    task = asyncio.create_task(runner.run())

    async def applied() -> bool:
        return await pool.fetchval("SELECT count(*) FROM seen") == 5

    try:
        await _wait(applied, task)
        await asyncio.sleep(0.5)  # the first commit was refused by now; no record is left to move on
        assert runner.failed
    finally:
        await _stop(runner, task)
    assert await _committed(kafka_bootstrap_servers, group, TopicPartition(topic, 0)) == 5
