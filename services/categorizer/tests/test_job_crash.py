"""A crash in the middle of a re-categorization job: the service runs as a real process, is killed
(SIGKILL) while the job is half done, and a new process on the same schema finishes it. Every
transaction the rule changes is re-categorized exactly once in effect (one event id each; the relay may
repeat an event, never mint a second one), and the job's counts add up."""

import asyncio
import time
import uuid
from collections import defaultdict

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from bankstream_common.envelope import Envelope
from bankstream_common.testing.issuer import TEST_ISSUER
from bankstream_common.testing.service_process import ServiceUnderTest, running_service
from categorizer.domain import events as ev

from .harness import read_all, txn_changed

pytestmark = pytest.mark.e2e

N = 2000


async def _wait(check, timeout: float = 120.0, every: float = 0.02):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError("condition not met")


async def test_a_job_killed_mid_way_resumes_and_recategorizes_each_transaction_once(
    database_url: str, kafka_bootstrap_servers: str
) -> None:
    uid = uuid.uuid4().hex[:10]
    schema, prefix = f"cat_crash_{uid}", f"t{uid}."
    env = {
        "CATEGORIZER_SCHEMA_NAME": schema,
        "CATEGORIZER_TOPIC_PREFIX": prefix,
        "CATEGORIZER_CONSUMER_GROUP": f"categorizer-{uid}",
        "CATEGORIZER_JOB_BATCH_SIZE": "10",
        "CATEGORIZER_JOB_POLL_SECONDS": "0.2",
        "CATEGORIZER_TOPIC_PARTITIONS": "2",
    }
    service = ServiceUnderTest(script="categorizer", env_prefix="CATEGORIZER_")
    kw = {"database_url": database_url, "kafka_bootstrap_servers": kafka_bootstrap_servers, "extra_env": env}
    db = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    await producer.start()
    try:
        with running_service(service, **kw) as first:
            await _wait(lambda: asyncio.to_thread(lambda: first.get("/readyz").status == 200))
            link = Envelope.new(
                source="t",
                type=ev.ITEM_LINKED,
                subject="item-1",
                data={"user_id": "alice", "item_id": "item-1"},
            )
            await producer.send_and_wait(prefix + ev.TOPIC_ITEMS, link.to_json(), key=b"item-1")
            for i in range(N):
                data = txn_changed(transaction_id=f"t{i:05d}", account_id=f"acc-{i % 4}", sync_sequence=i + 1)
                event = Envelope.new(source="t", type=ev.TRANSACTION_CHANGED, subject="x", data=data)
                await producer.send(
                    prefix + ev.TOPIC_TRANSACTIONS, event.to_json(), key=data["account_id"].encode()
                )
            await producer.flush()
            await _wait(lambda: db.fetchval("SELECT count(*) = $1 FROM transactions", N))
            async with httpx.AsyncClient(base_url=first.base_url) as http:
                r = await http.post(
                    "/v1/rules",
                    headers=TEST_ISSUER.bearer("alice", ["categorizer:rules"]),
                    json={
                        "match": {"description_contains": "blue bottle"},
                        "category": "FOOD_AND_DRINK_COFFEE",
                    },
                )
            assert r.status_code == 201, r.text
            job_id = uuid.UUID(r.json()["job"]["job_id"])
            await _wait(lambda: db.fetchval("SELECT processed >= 300 FROM jobs WHERE job_id = $1", job_id))
            first.process.kill()
            first.process.wait()
        at_kill = await db.fetchrow("SELECT state, processed, total FROM jobs WHERE job_id = $1", job_id)
        assert at_kill["state"] == "running" and 0 < at_kill["processed"] < N, dict(at_kill)

        with running_service(service, **kw):
            await _wait(lambda: db.fetchval("SELECT state = 'succeeded' FROM jobs WHERE job_id = $1", job_id))
            job = await db.fetchrow("SELECT total, processed, changed FROM jobs WHERE job_id = $1", job_id)
            assert (job["total"], job["processed"], job["changed"]) == (N, N, N)
            await _wait(lambda: db.fetchval("SELECT count(*) = 0 FROM outbox"))
        events = await read_all(kafka_bootstrap_servers, prefix + ev.TOPIC_CATEGORIZED)
        ids: dict[str, set[uuid.UUID]] = defaultdict(set)
        for e in events:
            if e.data["change"] == "recategorized":
                ids[e.data["transaction_id"]].add(e.id)
                assert e.data["version"] == 2 and e.data["caused_by"] == str(job_id)
        assert len(ids) == N
        assert all(len(v) == 1 for v in ids.values())
        assert await db.fetchval("SELECT count(*) FROM transactions WHERE version <> 2") == 0
    finally:
        await producer.stop()
        await db.close()
