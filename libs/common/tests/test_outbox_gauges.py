"""The outbox backlog gauges follow the real outbox while events wait, not only at the end of a publishing
pass: plain rows and released batches count, a staged batch nobody released does not, and the oldest
row's age grows while nothing is published."""

import asyncio
import uuid

import asyncpg
import pytest
from bankstream_common import outbox
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.producer import create_producer
from bankstream_common.outbox_relay import OutboxRelay, RelayConfig
from bankstream_common.pipeline_metrics import PipelineMetrics
from bankstream_common.relay_leadership import LOCK, UNLOCK
from bankstream_common.testing.waiting import true, wait_until

pytestmark = pytest.mark.integration


def _gauges(metrics: PipelineMetrics) -> tuple[float, float]:
    return metrics.outbox_unpublished._value.get(), metrics.outbox_oldest_age._value.get()


async def test_the_gauges_show_the_backlog_while_the_relay_cannot_publish_and_clear_after(
    pool: asyncpg.Pool,
    schema: str,
    topic: str,
    database_url: str,
    kafka_bootstrap_servers: str,
    metrics: PipelineMetrics,
) -> None:
    holder = await asyncpg.connect(database_url)  # holds the relay's lock: the relay waits, unable to publish
    assert await holder.fetchval(LOCK, schema)
    producer = create_producer(kafka_bootstrap_servers, client_id="gauges-test")
    await producer.start()
    relay = OutboxRelay(
        RelayConfig(schema=schema, poll_interval=0.05, sample_interval=0.05),
        pool=pool,
        producer=producer,
        metrics=metrics,
    )
    task = asyncio.create_task(relay.run())
    try:
        events = [
            Envelope.new(source="t", type="bankstream.test.v1", subject="s", data={}) for _ in range(30)
        ]
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue_many(conn, [(topic, f"k{i}", e) for i, e in enumerate(events)])
        released, unreleased = uuid.uuid4(), uuid.uuid4()
        rows = [(seq, str(uuid.uuid4()), topic, "k", "bankstream.test.v1", b"{}") for seq in range(50)]
        async with pool.acquire() as conn:
            await outbox.stage_batch(conn, released, "owner", rows)
            await outbox.stage_batch(conn, unreleased, "owner", rows)  # never released: not a backlog
            async with conn.transaction():
                await outbox.release_batch(conn, released)
        await wait_until(lambda: true(_gauges(metrics)[0] == 80), timeout=10)
        first_age = _gauges(metrics)[1]
        await asyncio.sleep(0.3)
        assert _gauges(metrics)[0] == 80
        assert _gauges(metrics)[1] >= first_age + 0.2  # sampled again, the same rows older
        assert not relay.leading.is_set()

        await holder.fetchval(UNLOCK, schema)  # the relay leads, publishes, and the gauges drop to zero
        await wait_until(lambda: true(_gauges(metrics) == (0, 0.0)), timeout=20)
    finally:
        relay.stop()
        await task
        await producer.stop()
        await holder.close()
