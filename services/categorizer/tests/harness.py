"""categorizer running in the test's event loop on a real loopback port, against the real broker and
database, with its own schema, topic prefix and consumer group (isolation by name, never by sleeping).

The test plays the other services: it publishes TransactionChanged, ItemLinked and CategoryOverridden
envelopes on the (prefixed) topics and reads TransactionCategorized from the output topic.
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from bankstream_common.envelope import Envelope
from bankstream_common.testing.issuer import TEST_ISSUER
from bankstream_common.testing.service_process import free_port
from bankstream_common.testing.waiting import true
from bankstream_common.testing.waiting import wait_until as wait_until
from categorizer.bootstrap import Container, bootstrap
from categorizer.config import Settings
from categorizer.domain import events as ev

T = TypeVar("T")
RULES = ("categorizer:rules",)


def settings_for(database_url: str, kafka: str, uid: str, port: int, **extra: Any) -> Settings:
    issuer = TEST_ISSUER.env("")
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka,
        "http_port": port,
        "jwt_issuer": issuer["JWT_ISSUER"],
        "jwt_public_keys": json.loads(issuer["JWT_PUBLIC_KEYS"]),
        "schema_name": f"cat_t_{uid}",
        "topic_prefix": f"t{uid}.",
        "consumer_group": f"categorizer-{uid}",
        "topic_partitions": 2,
        "job_poll_seconds": 0.2,
        **extra,
    }
    return Settings(**values)


@dataclass
class Categorizer:
    container: Container
    settings: Settings
    http: httpx.AsyncClient
    producer: AIOKafkaProducer
    kafka: str
    seen: list[Envelope] = field(default_factory=list)

    @property
    def pool(self) -> Any:
        return self.container.pool

    def topic(self, name: str) -> str:
        return self.settings.topic_prefix + name

    async def publish(self, topic: str, key: str, type_: str, data: dict[str, Any], **kw: Any) -> Envelope:
        event = Envelope.new(source="bankstream/test", type=type_, subject=key, data=data, **kw)
        await self.send_raw(topic, key, event.to_json())
        return event

    async def send_raw(self, topic: str, key: str, value: bytes) -> None:
        await self.producer.send_and_wait(self.topic(topic), value, key=key.encode())

    async def transaction(self, **fields: Any) -> Envelope:
        data = txn_changed(**fields)
        return await self.publish(ev.TOPIC_TRANSACTIONS, data["account_id"], ev.TRANSACTION_CHANGED, data)

    async def link(self, item_id: str, user_id: str, *, wait: bool = True) -> Envelope:
        data = {
            "user_id": user_id,
            "item_id": item_id,
            "institution_id": "ins_1",
            "institution_name": "First Platypus Bank",
            "status": "good",
            "accounts": [],
            "linked_at": datetime.now(UTC).isoformat(),
        }
        event = await self.publish(ev.TOPIC_ITEMS, item_id, ev.ITEM_LINKED, data)
        if wait:  # the items topic and the transactions topic are consumed independently
            await wait_until(lambda: self.pool.fetchval("SELECT 1 FROM items WHERE item_id = $1", item_id))
        return event

    async def call(
        self, method: str, path: str, sub: str = "alice", scopes: tuple[str, ...] = RULES, **kw: Any
    ):  # type: ignore[no-untyped-def]
        kind = kw.pop("kind", "user")
        return await self.http.request(method, path, headers=TEST_ISSUER.bearer(sub, scopes, kind=kind), **kw)

    async def output(self, until: Callable[[list[Envelope]], bool], timeout: float = 60.0) -> list[Envelope]:
        """Every TransactionCategorized so far (read from the start), once `until` holds."""
        deadline = time.monotonic() + timeout
        while True:
            self.seen = await read_all(self.kafka, self.topic(ev.TOPIC_CATEGORIZED))
            if until(self.seen):
                return self.seen
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; {len(self.seen)} events seen")
            await asyncio.sleep(0.2)

    async def job_done(self, job_id: str, sub: str = "alice", timeout: float = 30.0) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            r = await self.call("GET", f"/v1/jobs/{job_id}", sub)
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body if body["state"] == "succeeded" else None

        return await wait_until(done, timeout=timeout)


def txn_changed(
    *,
    transaction_id: str,
    account_id: str = "acc-1",
    item_id: str = "item-1",
    change: str = "added",
    sync_sequence: int = 1,
    name: str | None = "SQ *BLUE BOTTLE COFF",
    amount: float | None = 5.25,
    merchant_name: str | None = None,
    pfc: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "item_id": item_id,
        "sync_sequence": sync_sequence,
        "run_id": "run-1",
        "position": sync_sequence - 1,
        "change": change,
        "transaction_id": transaction_id,
        "account_id": account_id,
    }
    if change != "removed":
        data.update(
            pending=False,
            amount=amount,
            iso_currency_code="USD",
            date="2026-11-20",
            name=name,
            merchant_name=merchant_name,
            personal_finance_category=pfc,
            payment_channel="in store",
        )
    data.update(extra)
    return data


async def read_all(kafka: str, topic: str) -> list[Envelope]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    out: list[tuple[int, int, Envelope]] = []
    try:
        parts = consumer.assignment()
        while not parts:
            await asyncio.sleep(0.05)
            parts = consumer.assignment()
        end = await consumer.end_offsets(list(parts))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in end]
            if all(p >= end[tp] for p, tp in zip(positions, end, strict=True)):
                break
            for records in (await consumer.getmany(timeout_ms=200)).values():
                out.extend((r.partition, r.offset, Envelope.from_json(r.value)) for r in records)
    finally:
        await consumer.stop()
    return [e for _, _, e in sorted(out, key=lambda x: (x[0], x[1]))]  # each partition in its order


@asynccontextmanager
async def running_categorizer(database_url: str, kafka: str, **extra: Any) -> AsyncIterator[Categorizer]:
    uid = uuid.uuid4().hex[:10]
    port = free_port()
    settings = settings_for(database_url, kafka, uid, port, **extra)
    container = await bootstrap(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            container.app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
    )
    serving = asyncio.create_task(server.serve())
    background = asyncio.create_task(container.background.run())
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        await wait_until(lambda: true(server.started and container.background.ready.is_set()), timeout=60)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield Categorizer(container, settings, http, producer, kafka)
    finally:
        await producer.stop()
        container.background.stop()
        server.should_exit = True
        await asyncio.wait_for(asyncio.gather(serving, background, return_exceptions=True), 30)
        await container.aclose()


def by_txn(events: list[Envelope], transaction_id: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.data["transaction_id"] == transaction_id]
