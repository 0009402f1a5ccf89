"""The consumer runner on the real broker and database: once in effect, poison to the DLQ, crash-safe."""

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from bankstream_common.backoff import Backoff
from bankstream_common.envelope import Envelope
from bankstream_common.errors import PermanentError
from bankstream_common.kafka.consumer import ConsumerConfig, ConsumerRunner, Record
from bankstream_common.kafka.producer import create_producer
from bankstream_common.kafka.topics import dlq_topic
from bankstream_common.pipeline_metrics import PipelineMetrics
from pydantic import BaseModel

pytestmark = pytest.mark.integration
PROCS = Path(__file__).parent / "procs"


class Amount(BaseModel):
    amount: int


@pytest.fixture
async def totals(pool: asyncpg.Pool) -> None:
    await pool.execute("CREATE TABLE totals (key text PRIMARY KEY, total bigint NOT NULL, n int NOT NULL)")


@pytest.fixture
async def producer(kafka_bootstrap_servers: str):
    p = create_producer(kafka_bootstrap_servers, client_id="test-producer")
    await p.start()
    yield p
    await p.stop()


_BUSY: dict[int, int] = {}  # amount -> how many more times PostgreSQL refuses a connection for it


async def add_amount(conn: asyncpg.Connection, event: Envelope) -> None:
    data = Amount.model_validate(event.data)
    if data.amount < 0:
        raise PermanentError("negative amounts are not allowed")
    if data.amount == 13:
        raise RuntimeError("unlucky number, always fails")
    if data.amount == 1022:
        await conn.execute("SELECT 1 / 0")  # a class 22 error: the same every time
    if data.amount in _BUSY and _BUSY[data.amount] > 0:
        _BUSY[data.amount] -= 1
        raise asyncpg.TooManyConnectionsError("sorry, too many clients already")
    await conn.execute(
        "INSERT INTO totals (key, total, n) VALUES ($1, $2, 1) "
        "ON CONFLICT (key) DO UPDATE SET total = totals.total + $2, n = totals.n + 1",
        event.subject,
        data.amount,
    )


def _ev(key: str, amount: object) -> Envelope:
    return Envelope.new(
        source="bankstream/test", type="bankstream.test.amount.v1", subject=key, data={"amount": amount}
    )


async def _send(
    producer: AIOKafkaProducer,
    topic: str,
    value: bytes,
    key: str = "k",
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    await producer.send_and_wait(topic, value=value, key=key.encode(), headers=headers or [])


async def _run_until(runner: ConsumerRunner, predicate, timeout: float = 30.0) -> None:
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


def _runner(
    kafka: str,
    topic: str,
    group: str,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    metrics: PipelineMetrics,
) -> ConsumerRunner:
    return ConsumerRunner(
        ConsumerConfig(
            name=group,
            topics=[topic],
            bootstrap_servers=kafka,
            backoff=Backoff(base=0.01, cap=0.05, max_attempts=3),
        ),
        pool=pool,
        handler=add_amount,
        producer=producer,
        metrics=metrics,
    )


async def test_redelivered_event_has_no_second_effect(
    pool, totals, topic, producer, kafka_bootstrap_servers, metrics, uid
) -> None:
    event = _ev("acct-1", 5)
    for _ in range(3):  # the same event delivered three times
        await _send(producer, topic, event.to_json(), "acct-1")
    await _send(producer, topic, _ev("acct-1", 7).to_json(), "acct-1")
    runner = _runner(kafka_bootstrap_servers, topic, f"g-{uid}", pool, producer, metrics)

    async def done() -> bool:
        return await pool.fetchval("SELECT n FROM totals WHERE key = 'acct-1'") == 2

    await _run_until(runner, done)
    assert await pool.fetchval("SELECT total FROM totals WHERE key = 'acct-1'") == 12
    assert metrics.consumed.labels(topic, "duplicate")._value.get() == 2


async def test_poison_messages_go_to_the_dlq_with_reasons_and_the_consumer_keeps_going(
    pool, totals, topic, producer, kafka_bootstrap_servers, metrics, uid, read_topic
) -> None:
    bad_envelope = b'{"id": "not-a-uuid", "type": "x"}'
    poison = [
        (b"\x00\x01 not json", "undecodable envelope"),
        (bad_envelope, "undecodable envelope: id: Input should be a valid UUID"),
        (_ev("k", "twelve").to_json(), "schema-invalid data: amount: Input should be a valid integer"),
        (_ev("k", -1).to_json(), "permanent handler error: negative amounts are not allowed"),
        (_ev("k", 13).to_json(), "retries exhausted after 3 attempts: RuntimeError: unlucky number"),
        (_ev("k", 1022).to_json(), "the database refused the event's data: DivisionByZeroError"),
    ]
    await _send(producer, topic, _ev("k", 1).to_json())
    for value, _ in poison:
        await _send(producer, topic, value, headers=[("traceparent", b"trace-1")])
    await _send(producer, topic, _ev("k", 2).to_json())
    runner = _runner(kafka_bootstrap_servers, topic, f"g-{uid}", pool, producer, metrics)

    async def done() -> bool:
        return await pool.fetchval("SELECT n FROM totals WHERE key = 'k'") == 2

    await _run_until(runner, done)
    assert await pool.fetchval("SELECT total FROM totals WHERE key = 'k'") == 3
    assert metrics.retries.labels(topic, "transient")._value.get() == 2  # the unlucky 13's only
    dead = await read_topic(dlq_topic(topic), at_least=len(poison))
    assert len(dead) == len(poison)
    for record, (value, reason) in zip(dead, poison, strict=True):
        headers = dict(record.headers)
        assert record.value == value
        assert headers["dlq.reason"].decode().startswith(reason)
        assert headers["traceparent"] == b"trace-1"
        assert headers["dlq.original_topic"].decode() == topic
        assert headers["dlq.consumer"].decode() == f"g-{uid}"
        assert int(headers["dlq.original_offset"]) >= 1


async def test_a_postgresql_refusing_connections_is_waited_for_not_charged_to_the_event(
    pool, totals, topic, producer, kafka_bootstrap_servers, metrics, uid, read_topic
) -> None:
    """Too many clients (53300) says nothing about the event: refused more times than an event's retries
    allow (3 here), it is still applied once PostgreSQL takes it, and nothing is dead-lettered."""
    _BUSY[1041] = 6
    await _send(producer, topic, _ev("k", 1041).to_json())
    await _send(producer, topic, _ev("k", 1).to_json())
    runner = ConsumerRunner(
        ConsumerConfig(
            name=f"g-{uid}",
            topics=[topic],
            bootstrap_servers=kafka_bootstrap_servers,
            backoff=Backoff(base=0.01, cap=0.05, max_attempts=3),
            infra_backoff=Backoff(base=0.01, cap=0.05),
        ),
        pool=pool,
        handler=add_amount,
        producer=producer,
        metrics=metrics,
    )

    async def done() -> bool:
        return await pool.fetchval("SELECT n FROM totals WHERE key = 'k'") == 2

    await _run_until(runner, done)
    assert await pool.fetchval("SELECT total FROM totals WHERE key = 'k'") == 1042
    assert _BUSY[1041] == 0
    assert metrics.retries.labels(topic, "infrastructure")._value.get() == 6
    assert metrics.consumed.labels(topic, "dead_lettered")._value.get() == 0


async def test_consumer_killed_after_db_commit_before_offset_commit_has_no_second_effect(
    database_url, pool, schema, totals, topic, producer, kafka_bootstrap_servers, uid
) -> None:
    events = [_ev(f"acct-{i % 3}", i + 1) for i in range(60)]
    for e in events:
        await _send(producer, topic, e.to_json(), e.subject)
    group = f"g-{uid}"
    argv = [
        sys.executable,
        str(PROCS / "consumer_main.py"),
        database_url,
        schema,
        kafka_bootstrap_servers,
        topic,
        group,
    ]
    for kill_at in (7, 3, 11):  # three crashes, each right after a database commit
        done = subprocess.run([*argv, str(kill_at)], capture_output=True, timeout=60)
        assert done.returncode == -9, done.stderr.decode()[-2000:]
    proc = subprocess.Popen([*argv, "-1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if await pool.fetchval("SELECT coalesce(sum(n), 0) FROM totals") >= len(events):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a second effect, if there were one, would land now
    finally:
        proc.terminate()
        assert proc.wait(15) == 0, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    expected = {
        f"acct-{k}": sum(e.data["amount"] for e in events if e.subject == f"acct-{k}") for k in range(3)
    }
    rows = {r["key"]: r["total"] for r in await pool.fetch("SELECT key, total FROM totals")}
    assert rows == expected
    assert await pool.fetchval("SELECT sum(n) FROM totals") == len(events)
    assert await pool.fetchval("SELECT count(*) FROM inbox") == len(events)


async def test_clean_stop_commits_what_is_done(
    pool, totals, topic, producer, kafka_bootstrap_servers, uid
) -> None:
    from prometheus_client import CollectorRegistry

    events = [_ev(f"acct-{i % 4}", 1) for i in range(200)]
    for e in events[:120]:
        await _send(producer, topic, e.to_json(), e.subject)
    group = f"g-{uid}"
    first_metrics = PipelineMetrics("t1", CollectorRegistry())
    first = _runner(kafka_bootstrap_servers, topic, group, pool, producer, first_metrics)

    async def first_done() -> bool:
        return await pool.fetchval("SELECT coalesce(sum(n), 0) FROM totals") == 120

    await _run_until(first, first_done)
    for e in events[120:]:
        await _send(producer, topic, e.to_json(), e.subject)
    second_metrics = PipelineMetrics("t2", CollectorRegistry())
    second = _runner(kafka_bootstrap_servers, topic, group, pool, producer, second_metrics)

    async def second_done() -> bool:
        return await pool.fetchval("SELECT coalesce(sum(n), 0) FROM totals") == 200

    await _run_until(second, second_done)
    # the second runner started at the committed offsets: it never saw the first 120 again
    seen = sum(second_metrics.consumed.labels(topic, o)._value.get() for o in ("applied", "duplicate"))
    assert seen == 80
    assert second_metrics.consumed.labels(topic, "duplicate")._value.get() == 0


async def test_rebalances_lose_and_duplicate_nothing(
    pool, totals, topic, producer, kafka_bootstrap_servers, metrics, uid
) -> None:
    from prometheus_client import CollectorRegistry

    group = f"g-{uid}"
    events = [_ev(f"acct-{i % 16}", 20 + i % 50) for i in range(600)]  # never the failing 13
    a = _runner(kafka_bootstrap_servers, topic, group, pool, producer, metrics)
    b = _runner(
        kafka_bootstrap_servers, topic, group, pool, producer, PipelineMetrics("b", CollectorRegistry())
    )
    task_a = asyncio.create_task(a.run())
    task_b: asyncio.Task[None] | None = None
    try:
        for i, e in enumerate(events):
            await _send(producer, topic, e.to_json(), e.subject)
            if i == 200:  # a second member joins: partitions move while events flow
                task_b = asyncio.create_task(b.run())
            if i == 400:  # the first leaves cleanly: its partitions move again
                a.stop()
                await task_a
        for _ in range(600):
            if await pool.fetchval("SELECT coalesce(sum(n), 0) FROM totals") >= len(events):
                break
            await asyncio.sleep(0.05)
    finally:
        a.stop()
        b.stop()
        await asyncio.gather(task_a, *([task_b] if task_b else []))
    expected = {
        f"acct-{k}": sum(e.data["amount"] for e in events if e.subject == f"acct-{k}") for k in range(16)
    }
    rows = {r["key"]: r["total"] for r in await pool.fetch("SELECT key, total FROM totals")}
    assert rows == expected
    assert await pool.fetchval("SELECT sum(n) FROM totals") == len(events)


async def test_the_inbox_forgets_events_older_than_its_retention_and_only_this_consumers(
    pool, totals, topic, producer, kafka_bootstrap_servers, metrics, uid
) -> None:
    group = f"g-{uid}"
    await pool.execute(
        """INSERT INTO inbox (consumer, event_id, event_type, processed_at)
           SELECT c, gen_random_uuid(), 't', now() - make_interval(days => d)
           FROM unnest(ARRAY[$1, 'someone-else']) c, generate_series(1, 40) d""",
        group,
    )
    runner = _runner(kafka_bootstrap_servers, topic, group, pool, producer, metrics)
    await _send(producer, topic, _ev("a", 5).to_json())

    async def applied() -> bool:
        return await pool.fetchval("SELECT count(*) FROM totals") == 1

    await _run_until(runner, applied)  # pruning runs as the consumer starts
    kept = await pool.fetch(
        "SELECT consumer, max(now() - processed_at) AS oldest, count(*) FROM inbox GROUP BY consumer"
    )
    by_consumer = {r["consumer"]: r for r in kept}
    assert by_consumer[group]["count"] == 34 + 1  # days 1..34, and the event just applied
    assert by_consumer[group]["oldest"].days == 34
    assert by_consumer["someone-else"]["count"] == 40  # another consumer's inbox is its own business


async def test_when_a_batch_fails_run_ends_with_no_batch_of_another_partition_still_running(
    pool, topic, producer, kafka_bootstrap_servers, metrics, uid
) -> None:
    """A failure that escapes a batch (a bug: handler errors are classified, never raised) ends `run`;
    the batches of the same poll's other partitions are cancelled with it, not left running (holding a
    connection, writing to the database) after the consumer has stopped."""
    other_started, other_cancelled = asyncio.Event(), asyncio.Event()

    class Failing(ConsumerRunner):
        async def _process_partition(self, tp: TopicPartition, records: list[Record]) -> bool:
            if tp.partition == 0:
                await asyncio.wait_for(other_started.wait(), 30)
                raise RuntimeError("a bug outside the handler")
            other_started.set()
            try:
                await asyncio.sleep(60)  # waiting, as for PostgreSQL or the DLQ
            except asyncio.CancelledError:
                other_cancelled.set()
                raise
            return True

    for partition in (0, 1):
        await producer.send_and_wait(topic, value=_ev("k", 1).to_json(), partition=partition)
    config = ConsumerConfig(name=f"g-{uid}", topics=[topic], bootstrap_servers=kafka_bootstrap_servers)
    runner = Failing(config, pool=pool, handler=add_amount, producer=producer, metrics=metrics)
    with pytest.raises(RuntimeError, match="a bug outside the handler"):
        await asyncio.wait_for(runner.run(), 60)
    assert other_cancelled.is_set()
