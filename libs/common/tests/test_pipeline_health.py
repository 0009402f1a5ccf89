"""What an operator sees of the pipeline, on the real broker and database: the consumer lag per group and
partition, the dead-letter counts, and a /readyz `workers` check that fails when a consumer stops
consuming or the outbox relay is not running (not only when a connection fails)."""

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from bankstream_common import outbox
from bankstream_common.envelope import Envelope
from bankstream_common.errors import PermanentError
from bankstream_common.kafka.consumer import ConsumerConfig, ConsumerRunner
from bankstream_common.kafka.producer import create_producer
from bankstream_common.kafka.topics import dlq_topic
from bankstream_common.outbox_relay import OutboxRelay, RelayConfig
from bankstream_common.pipeline_metrics import PipelineMetrics
from bankstream_common.readiness import workers_check
from bankstream_common.runtime import Supervisor
from bankstream_common.testing.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def producer(kafka_bootstrap_servers: str):
    p = create_producer(kafka_bootstrap_servers, client_id="test-producer")
    await p.start()
    yield p
    await p.stop()


def _ev(key: str, amount: int) -> Envelope:
    return Envelope.new(
        source="bankstream/test", type="bankstream.test.v1", subject=key, data={"amount": amount}
    )


def _lag(metrics: PipelineMetrics, group: str) -> dict[str, float]:
    return {
        s.labels["partition"]: s.value
        for family in metrics.consumer_lag.collect()
        for s in family.samples
        if s.labels["group"] == group
    }


def _gauge(metrics: PipelineMetrics, topic: str) -> float | None:
    for family in metrics.dlq_messages.collect():
        for s in family.samples:
            if s.labels["topic"] == topic:
                return s.value
    return None


async def _failing(check: Callable[[], Awaitable[None]]) -> str | None:
    try:
        await check()
    except Exception as exc:
        return str(exc)
    return None


async def _supervise(worker: object) -> tuple[Supervisor, asyncio.Task[None]]:
    async def prepare() -> list:
        return [worker]

    supervisor = Supervisor(prepare)
    return supervisor, asyncio.create_task(supervisor.run())


async def test_lag_grows_while_a_consumer_is_stuck_and_readiness_says_so(
    pool, topic, producer, kafka_bootstrap_servers, metrics, uid
) -> None:
    gate = asyncio.Event()

    async def handler(conn: asyncpg.Connection, event: Envelope) -> None:
        await gate.wait()  # a handler wedged on something outside the process
        if event.data["amount"] < 0:
            raise PermanentError("negative amount")

    for i in range(8):
        amount = -1 if i in (3, 6) else i
        await producer.send_and_wait(topic, value=_ev(f"k{i}", amount).to_json(), key=f"k{i}".encode())
    group = f"g-{uid}"
    runner = ConsumerRunner(
        ConsumerConfig(
            name=group,
            topics=[topic],
            bootstrap_servers=kafka_bootstrap_servers,
            lag_interval=0.2,
            stall_seconds=1.5,
        ),
        pool=pool,
        handler=handler,
        producer=producer,
        metrics=metrics,
    )
    supervisor, task = await _supervise(runner)
    check = workers_check(supervisor)
    try:
        # stuck: nothing committed, the lag of every assigned partition is what was produced to it
        await wait_until(lambda: _total(_lag(metrics, group), 8), timeout=30)
        reason = await wait_until(lambda: _failing(check), timeout=30)
        # the loop still polls (polls overlap), but the poll it holds is not applied: not ready, and the
        # progress gauge stays behind
        assert f"consumer {group}: a poll has been in hand for" in reason
        progress = metrics.consumer_last_poll.labels(group)._value.get()
        assert time.time() - progress > runner.config.stall_seconds
        assert _gauge(metrics, dlq_topic(topic)) == 0

        gate.set()  # unstuck: everything applied or dead-lettered, committed, lag back to zero
        await wait_until(lambda: _total(_lag(metrics, group), 0), timeout=30)
        await wait_until(lambda: _equals(_gauge(metrics, dlq_topic(topic)), 2), timeout=30)
        assert await _failing(check) is None
        assert set(_lag(metrics, group)) == {"0", "1", "2", "3"}  # one series per partition
    finally:
        gate.set()
        supervisor.stop()
        await task
    assert runner.health() == f"consumer {group}: stopped"


async def test_readiness_fails_until_prepared_and_when_the_relay_is_not_running(
    pool, schema, topic, producer, metrics
) -> None:
    first = OutboxRelay(RelayConfig(schema=schema), pool=pool, producer=producer, metrics=metrics)
    standby = OutboxRelay(RelayConfig(schema=schema), pool=pool, producer=producer, metrics=metrics)
    assert first.health() == "outbox relay: not running"
    prepared = asyncio.Event()

    async def prepare() -> list:
        await prepared.wait()
        return [first, standby]

    supervisor = Supervisor(prepare)
    task = asyncio.create_task(supervisor.run())
    check = workers_check(supervisor)
    try:
        assert "starting" in (await _failing(check) or "")
        prepared.set()
        await asyncio.wait_for(first.leading.wait(), 10)
        await wait_until(lambda: _none(_failing(check)))  # one leads, the other stands by: both run
        assert standby.health() is None and not standby.leading.is_set()
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, topic=topic, key="k", event=_ev("k", 1))
        await wait_until(lambda: _zero(pool.fetchval("SELECT count(*) FROM outbox")))
        assert await _failing(check) is None
        standby.stop()  # a relay that ended on its own: the supervisor stops the rest and fails the process
        with pytest.raises(RuntimeError, match="stopped on its own"):
            await asyncio.wait_for(asyncio.shield(task), 15)
        assert await _failing(check) == "outbox relay: not running; outbox relay: not running"
    finally:
        supervisor.stop()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_wedged_leading_relay_is_reported_stuck(pool, schema, topic, producer, metrics) -> None:
    gate = asyncio.Event()

    class WedgedRelay(OutboxRelay):
        async def _next_unit(self, excluded, progress):  # type: ignore[no-untyped-def]
            await gate.wait()  # e.g. a statement that never returns
            return await super()._next_unit(excluded, progress)

    relay = WedgedRelay(
        RelayConfig(schema=schema, stall_seconds=1.0), pool=pool, producer=producer, metrics=metrics
    )
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(relay.leading.wait(), 10)
        reason = await wait_until(lambda: _value(relay.health()), timeout=15)
        assert reason.startswith("outbox relay: leading but stuck for")
        gate.set()
        await wait_until(lambda: _value(relay.health() is None), timeout=15)
    finally:
        gate.set()
        relay.stop()
        await task


async def _total(lag: dict[str, float], want: float) -> bool:
    return bool(lag) and sum(lag.values()) == want


async def _equals(value: float | None, want: float) -> bool:
    return value == want


async def _none(reason: Awaitable[str | None]) -> bool:
    return await reason is None


async def _zero(count: Awaitable[int]) -> bool:
    return await count == 0


async def _value(value: object) -> object:
    return value
