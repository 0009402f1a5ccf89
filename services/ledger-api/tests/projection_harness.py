"""ledger-api's projections running in the test's event loop through bootstrap(), against the real broker
and database: a per-test schema, per-test topic names and consumer group (isolation by name), events
produced with the real producer (Envelope.new(...).to_json()) onto the prefixed topics.

Waiting is on facts, never on time: `processed(*events)` returns once the consumer's inbox holds them
(claimed in the same transaction as their effect, so their effect, or their being stale, is committed).
"""

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.producer import create_producer
from bankstream_common.testing.issuer import TEST_ISSUER
from ledger_api.bootstrap import Container, bootstrap
from ledger_api.config import Settings
from ledger_api.domain import consumed as ev

T = TypeVar("T")
UTC = dt.UTC
BASE = dt.datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def settings_for(database_url: str, kafka: str, uid: str, **overrides: Any) -> Settings:
    issuer = TEST_ISSUER.env("LEDGER_API_")
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka,
        "jwt_public_keys": json.loads(issuer["LEDGER_API_JWT_PUBLIC_KEYS"]),
        "jwt_issuer": issuer["LEDGER_API_JWT_ISSUER"],
        "schema_name": f"ledger_t_{uid}",
        "topic_prefix": f"t{uid}.",
        "consumer_group": f"ledger-{uid}",
        "topic_partitions": 3,
        **overrides,
    }
    return Settings(**values)


@dataclass
class Ledger:
    container: Container
    producer: AIOKafkaProducer

    @property
    def pool(self) -> asyncpg.Pool:
        return self.container.pool

    @property
    def settings(self) -> Settings:
        return self.container.settings

    async def send(self, topic: str, key: str, *events: Envelope) -> None:
        """Produce `events` in order onto the prefixed `topic` with Kafka key `key`."""
        futures = [
            await self.producer.send(self.settings.topic_prefix + topic, value=e.to_json(), key=key.encode())
            for e in events
        ]
        await asyncio.gather(*futures)

    async def send_raw(self, topic: str, key: str, value: bytes) -> None:
        await self.producer.send_and_wait(self.settings.topic_prefix + topic, value=value, key=key.encode())

    async def processed(self, *events: Envelope, timeout: float = 30.0) -> None:
        ids = [e.id for e in events]
        await self.until(
            lambda: self.pool.fetchval(
                "SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
                self.settings.consumer_group,
                ids,
            ),
            lambda n: n == len(set(ids)),
            timeout=timeout,
        )

    def consumed(self, outcome: str) -> float:
        """How many records the consumer counted with `outcome` (applied, duplicate, dead_lettered)."""
        registry = self.container.metrics.registry
        return sum(
            registry.get_sample_value(
                "ledger_api_events_consumed_total",
                {"topic": self.settings.topic_prefix + topic, "outcome": outcome},
            )
            or 0.0
            for topic in ev.CONSUMED_TOPICS
        )

    async def until(
        self, fetch: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float = 30.0
    ) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = await fetch()
            if ok(value):
                return value
            assert loop.time() < deadline, f"not reached in {timeout}s; last value: {value!r}"
            await asyncio.sleep(0.05)

    async def transaction(self, transaction_id: str) -> dict[str, Any] | None:
        row = await self.pool.fetchrow("SELECT * FROM transactions WHERE transaction_id = $1", transaction_id)
        return None if row is None else {**row, "details": json.loads(row["details"] or "null")}

    async def changes(self, entity_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM changes WHERE entity_id = $1 ORDER BY txid, seq", entity_id
        )
        return [{**r, "data": json.loads(r["data"])} for r in rows]


@asynccontextmanager
async def running_ledger(database_url: str, kafka: str, **overrides: Any) -> AsyncIterator[Ledger]:
    uid = uuid.uuid4().hex[:10]
    container = await bootstrap(settings_for(database_url, kafka, uid, **overrides))
    task = asyncio.create_task(container.background.run())
    producer = create_producer(kafka, client_id=f"test-{uid}")
    await producer.start()
    try:
        await asyncio.wait_for(container.background.ready.wait(), 60)
        yield Ledger(container, producer)
    finally:
        container.background.stop()
        await task
        await producer.stop()
        await container.aclose()


# -- events, as their producers shape them --------------------------------------------------------------


def envelope(type_: str, source: str, subject: str, data: dict[str, Any]) -> Envelope:
    return Envelope.new(source=source, type=type_, subject=subject, data=data)


def item_linked(item_id: str, user_id: str, accounts: list[str], at: dt.datetime = BASE) -> Envelope:
    return envelope(
        ev.ITEM_LINKED,
        "bankstream/link-svc",
        item_id,
        {
            "user_id": user_id,
            "item_id": item_id,
            "institution_id": "ins_109508",
            "institution_name": "First Platypus Bank",
            "status": "good",
            "products": ["transactions"],
            "accounts": [
                {
                    "account_id": a,
                    "name": f"Checking {a[-4:]}",
                    "official_name": None,
                    "mask": a[-4:],
                    "type": "depository",
                    "subtype": "checking",
                }
                for a in accounts
            ],
            "linked_at": at.isoformat(),
        },
    )


def status_changed(
    item_id: str, user_id: str, status: str, at: dt.datetime, code: str | None = None
) -> Envelope:
    return envelope(
        ev.ITEM_STATUS_CHANGED,
        "bankstream/link-svc",
        item_id,
        {"user_id": user_id, "item_id": item_id, "status": status, "previous_status": "good",
         "trigger": "webhook", "code": code, "changed_at": at.isoformat()},
    )  # fmt: skip


def item_removed(item_id: str, user_id: str, at: dt.datetime) -> Envelope:
    return envelope(
        ev.ITEM_REMOVED,
        "bankstream/link-svc",
        item_id,
        {
            "user_id": user_id,
            "item_id": item_id,
            "institution_id": "ins_109508",
            "removed_at": at.isoformat(),
        },
    )


def account_updated(item_id: str, account_id: str, current: float, as_of: dt.datetime) -> Envelope:
    return envelope(
        ev.ACCOUNT_UPDATED,
        "bankstream/sync-worker",
        account_id,
        {
            "item_id": item_id, "account_id": account_id, "run_id": uuid.uuid4().hex,
            "name": "Plaid Checking", "official_name": "Plaid Gold Standard 0% Interest Checking",
            "mask": "0000", "type": "depository", "subtype": "checking",
            "balances": {"available": current - 10, "current": current, "limit": None,
                         "iso_currency_code": "USD", "unofficial_currency_code": None,
                         "last_updated_datetime": None},
            "as_of": as_of.isoformat(),
        },
    )  # fmt: skip


def _run_report(item_id: str, finished: dt.datetime) -> dict[str, Any]:
    return {
        "item_id": item_id, "run_id": uuid.uuid4().hex, "trigger": "webhook", "triggers": ["webhook"],
        "pages": 1, "restarts": 0, "added": 1, "modified": 0, "removed": 0, "duration_ms": 100,
        "started_at": (finished - dt.timedelta(seconds=1)).isoformat(), "finished_at": finished.isoformat(),
    }  # fmt: skip


def sync_completed(item_id: str, finished: dt.datetime) -> Envelope:
    data = {**_run_report(item_id, finished), "transactions_update_status": None, "last_sync_sequence": 3}
    return envelope(ev.SYNC_COMPLETED, "bankstream/sync-worker", item_id, data)


def sync_failed(item_id: str, finished: dt.datetime, code: str) -> Envelope:
    data = {**_run_report(item_id, finished), "error_code": code, "error_type": "ITEM_ERROR",
            "retryable": False, "needs_attention": True, "attempt": 1}  # fmt: skip
    return envelope(ev.SYNC_FAILED, "bankstream/sync-worker", item_id, data)


def plaid_transaction(
    transaction_id: str,
    account_id: str,
    *,
    amount: float = 4.33,
    name: str = "Starbucks",
    pending: bool = False,
    pending_transaction_id: str | None = None,
    day: dt.date = dt.date(2026, 11, 2),
) -> dict[str, Any]:
    """Every field of TransactionChanged's data except change/item_id/sync_sequence/run_id/position."""
    return {
        "transaction_id": transaction_id, "account_id": account_id, "pending": pending,
        "pending_transaction_id": pending_transaction_id, "amount": amount, "iso_currency_code": "USD",
        "unofficial_currency_code": None, "date": day.isoformat(), "authorized_date": day.isoformat(),
        "datetime": None, "authorized_datetime": None, "name": name, "merchant_name": name,
        "merchant_entity_id": "ent_1", "original_description": f"{name.upper()} #123 SEATTLE WA",
        "personal_finance_category": {"primary": "FOOD_AND_DRINK", "detailed": "FOOD_AND_DRINK_COFFEE",
                                      "confidence_level": "VERY_HIGH", "version": "v2"},
        "payment_channel": "in store", "transaction_code": None, "check_number": None,
        "location": {"city": "Seattle", "region": "WA"}, "payment_meta": None, "counterparties": [],
        "website": None, "logo_url": None,
    }  # fmt: skip


def categorized(
    change: str,
    transaction: dict[str, Any] | None,
    *,
    transaction_id: str | None = None,
    account_id: str | None = None,
    item_id: str,
    user_id: str | None,
    version: int,
    primary: str = "FOOD_AND_DRINK",
    detailed: str = "FOOD_AND_DRINK_COFFEE",
) -> Envelope:
    tid = transaction_id or (transaction or {})["transaction_id"]
    aid = account_id or (transaction or {})["account_id"]
    category = None
    if change != "removed":
        category = {"primary": primary, "detailed": detailed, "source": "model", "confidence": 0.87,
                    "decided_by": "model:tfidf-v1", "needs_review": False,
                    "merchant": "starbucks"}  # fmt: skip
    data = {
        "change": change, "transaction_id": tid, "account_id": aid, "item_id": item_id, "user_id": user_id,
        "version": version, "sync_sequence": None if change == "recategorized" else version,
        "caused_by": str(uuid.uuid4()), "transaction": transaction if change != "removed" else None,
        "category": category, "decided_at": (BASE + dt.timedelta(minutes=version)).isoformat(),
    }  # fmt: skip
    return envelope(ev.TRANSACTION_CATEGORIZED, "bankstream/categorizer", tid, data)
