"""Group commit of webhooks on real PostgreSQL: concurrent webhooks share statements, every one gets its
own answer, and a delivery seen twice (in one batch or across batches) is recorded and published once,
while distinct deliveries of the same body are each recorded and published."""

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from bankstream_common.envelope import Envelope
from link_svc.adapters.repository import prune_webhook_deliveries
from link_svc.adapters.webhook_writer import WebhookRecord, WebhookWriter

pytestmark = pytest.mark.integration


def record(delivery: str, body_sha256: str = "0" * 64, age: float = 0.0) -> WebhookRecord:
    event = Envelope.new(
        source="test", type="bankstream.plaid.webhook_received.v1", subject="i", data={"s": delivery}
    )
    return WebhookRecord(
        delivery_id=delivery,
        body_sha256=body_sha256,  # every delivery here carries the same body
        issued_at=datetime.now(UTC) - timedelta(seconds=age),
        webhook_type="TRANSACTIONS",
        webhook_code="SYNC_UPDATES_AVAILABLE",
        item_id="item",
        topic="webhooks",
        key="item",
        event=event,
    )


async def test_concurrent_deliveries_are_recorded_once_each_and_replays_publish_nothing(
    pool: asyncpg.Pool,
) -> None:
    writer = WebhookWriter(pool)
    hashes = [f"{i:064x}" for i in range(300)]
    answers = await asyncio.gather(*(writer.record(record(h)) for h in hashes + hashes[:50]))
    assert answers[:300] == [True] * 300 and answers[300:] == [False] * 50
    assert await asyncio.gather(*(writer.record(record(h)) for h in hashes[:20])) == [False] * 20
    assert await pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 300
    payloads = await pool.fetch("SELECT payload FROM outbox ORDER BY position")
    assert [Envelope.from_json(r["payload"]).data["s"] for r in payloads] == hashes


async def test_a_failed_statement_fails_every_webhook_of_its_batch_and_the_next_batch_works(
    pool: asyncpg.Pool,
) -> None:
    writer = WebhookWriter(pool)
    await pool.execute("ALTER TABLE webhook_deliveries ADD CONSTRAINT no_bad CHECK (delivery_id <> 'bad')")
    results = await asyncio.gather(
        writer.record(record("bad")), writer.record(record("good")), return_exceptions=True
    )
    assert all(isinstance(r, asyncpg.CheckViolationError) for r in results)
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await writer.record(record("good")) is True


async def test_deliveries_are_forgotten_once_a_replay_could_no_longer_verify(pool: asyncpg.Pool) -> None:
    writer = WebhookWriter(pool)
    assert await writer.record(record("old", age=700)) and await writer.record(record("recent", age=200))
    await prune_webhook_deliveries(pool, 600)
    assert [r["delivery_id"] for r in await pool.fetch("SELECT delivery_id FROM webhook_deliveries")] == [
        "recent"
    ]
    assert await writer.record(record("recent")) is False  # still absorbed as a replay
