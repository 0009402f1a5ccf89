"""Group commit of webhooks on real PostgreSQL: concurrent webhooks share statements, every one gets its
own answer, and a body seen twice (in one batch or across batches) is recorded and published once."""

import asyncio

import asyncpg
import pytest
from bankstream_common.envelope import Envelope
from link_svc.adapters.webhook_writer import WebhookRecord, WebhookWriter

pytestmark = pytest.mark.integration


def record(sha: str) -> WebhookRecord:
    event = Envelope.new(
        source="test", type="bankstream.plaid.webhook_received.v1", subject="i", data={"s": sha}
    )
    return WebhookRecord(sha, "TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", "item", "webhooks", "item", event)


async def test_concurrent_webhooks_are_recorded_once_each_and_duplicates_publish_nothing(
    pool: asyncpg.Pool,
) -> None:
    writer = WebhookWriter(pool)
    hashes = [f"{i:064x}" for i in range(300)]
    answers = await asyncio.gather(*(writer.record(record(h)) for h in hashes + hashes[:50]))
    assert answers[:300] == [True] * 300 and answers[300:] == [False] * 50
    assert await asyncio.gather(*(writer.record(record(h)) for h in hashes[:20])) == [False] * 20
    assert await pool.fetchval("SELECT count(*) FROM webhooks") == 300
    payloads = await pool.fetch("SELECT payload FROM outbox ORDER BY position")
    assert [Envelope.from_json(r["payload"]).data["s"] for r in payloads] == hashes


async def test_a_failed_statement_fails_every_webhook_of_its_batch_and_the_next_batch_works(
    pool: asyncpg.Pool,
) -> None:
    writer = WebhookWriter(pool)
    await pool.execute("ALTER TABLE webhooks ADD CONSTRAINT no_bad CHECK (body_sha256 <> 'bad')")
    results = await asyncio.gather(
        writer.record(record("bad")), writer.record(record("good")), return_exceptions=True
    )
    assert all(isinstance(r, asyncpg.CheckViolationError) for r in results)
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await writer.record(record("good")) is True
