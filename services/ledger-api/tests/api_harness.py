"""ledger-api running in the test's event loop on a real loopback port, against a per-test PostgreSQL
schema and per-test Kafka topic names (isolation by name, never by sleeping), plus SQL seeding helpers:
the read API's tests fill the ledger's tables directly, without the projections."""

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import asyncpg
import httpx
import uvicorn
from bankstream_common.testing.issuer import TEST_ISSUER
from bankstream_common.testing.waiting import read_events as read_events  # the tests import these from here
from bankstream_common.testing.waiting import true
from bankstream_common.testing.waiting import wait_until as wait_until
from ledger_api.bootstrap import Container, bootstrap
from ledger_api.config import Settings

READ = ("ledger:read",)
READ_WRITE = ("ledger:read", "ledger:write")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bearer(user: str, scopes: Iterable[str] = READ_WRITE, kind: str = "user") -> dict[str, str]:
    return TEST_ISSUER.bearer(user, list(scopes), kind=kind)


@dataclass
class LedgerApi:
    url: str
    container: Container
    http: httpx.AsyncClient
    topic_prefix: str

    @property
    def pool(self) -> asyncpg.Pool:
        return self.container.pool

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    async def get(self, path: str, user: str = "alice", **kw: Any) -> httpx.Response:
        headers = {**bearer(user), **kw.pop("headers", {})}
        return await self.http.get(path, headers=headers, **kw)

    async def patch(self, path: str, body: Any, user: str = "alice", **kw: Any) -> httpx.Response:
        headers = {**bearer(user), **kw.pop("headers", {})}
        return await self.http.patch(path, json=body, headers=headers, **kw)


def settings_for(database_url: str, kafka: str, port: int, uid: str, **extra: Any) -> Settings:
    issuer = TEST_ISSUER.env("")
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka,
        "http_port": port,
        "jwt_issuer": issuer["JWT_ISSUER"],
        "jwt_public_keys": json.loads(issuer["JWT_PUBLIC_KEYS"]),
        "schema_name": f"ledger_t_{uid}",
        "topic_prefix": f"t{uid}.",
        "consumer_group": f"ledger-api-{uid}",
        "topic_partitions": 1,
        "db_pool_size": 10,
        **extra,
    }
    return Settings(**values)


@asynccontextmanager
async def running_ledger_api(database_url: str, kafka: str, **extra: Any) -> AsyncIterator[LedgerApi]:
    uid = uuid.uuid4().hex[:10]
    port = free_port()
    settings = settings_for(database_url, kafka, port, uid, **extra)
    container = await bootstrap(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            container.app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
    )
    serving = asyncio.create_task(server.serve())
    background = asyncio.create_task(container.background.run())
    try:
        await wait_until(lambda: true(server.started and container.background.ready.is_set()), timeout=60)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield LedgerApi(f"http://127.0.0.1:{port}", container, http, settings.topic_prefix)
    finally:
        container.streams.stop()
        container.background.stop()
        server.should_exit = True
        await asyncio.wait_for(asyncio.gather(serving, background, return_exceptions=True), 30)
        await container.aclose()


# --- seeding the ledger's tables (what the projections would have written) -------------------------------


async def add_item(
    db: asyncpg.Pool, item_id: str, user_id: str | None, *, status: str = "good", removed: bool = False
) -> None:
    await db.execute(
        """INSERT INTO items
               (item_id, user_id, institution_id, institution_name, status, linked_at, removed_at)
           VALUES ($1, $2, 'ins_109508', 'First Platypus Bank', $3, now(), CASE WHEN $4 THEN now() END)""",
        item_id,
        user_id,
        status,
        removed,
    )


async def add_account(
    db: asyncpg.Pool, account_id: str, item_id: str, user_id: str | None, *, current: float = 100.0
) -> None:
    await db.execute(
        """INSERT INTO accounts (account_id, item_id, user_id, name, mask, type, subtype, balance_available,
                                 balance_current, iso_currency_code, balance_as_of)
           VALUES ($1, $2, $3, 'Checking ' || $1, '0000', 'depository', 'checking', $4, $4, 'USD', now())""",
        account_id,
        item_id,
        user_id,
        current,
    )


def tx(transaction_id: str, **fields: Any) -> dict[str, Any]:
    """A transaction row with plausible defaults; `fields` override any column."""
    row: dict[str, Any] = {
        "transaction_id": transaction_id,
        "user_id": "alice",
        "item_id": "item-a",
        "account_id": "acc-a1",
        "version": 1,
        "removed": False,
        "pending": False,
        "pending_transaction_id": None,
        "amount": 10.0,
        "iso_currency_code": "USD",
        "date": date(2026, 11, 1),
        "name": "STARBUCKS 1234",
        "merchant_name": "Starbucks",
        "original_description": "STARBUCKS STORE 1234 SEATTLE",
        "category_primary": "FOOD_AND_DRINK",
        "category_detailed": "FOOD_AND_DRINK_COFFEE",
        "category_source": "learned",
        "category_confidence": 0.9,
        "category_decided_by": "learned:starbucks",
    }
    row.update(fields)
    return row


async def add_transactions(db: asyncpg.Pool | asyncpg.Connection, rows: Iterable[dict[str, Any]]) -> None:
    for row in rows:  # one row at a time: each names only its own columns (the others keep their default)
        placeholders = ", ".join(f"${i + 1}" for i in range(len(row)))
        await db.execute(
            f"INSERT INTO transactions ({', '.join(row)}) VALUES ({placeholders})", *row.values()
        )


async def add_change(
    db: asyncpg.Pool | asyncpg.Connection,
    entity_id: str,
    *,
    user_id: str = "alice",
    op: str = "added",
    entity: str = "transaction",
    data: dict[str, Any] | None = None,
) -> None:
    await db.execute(
        """INSERT INTO changes (user_id, item_id, entity, entity_id, op, version, data)
           VALUES ($1, 'item-a', $2, $3, $4, 1, $5::jsonb)""",
        user_id,
        entity,
        entity_id,
        op,
        json.dumps(data or {"id": entity_id}),
    )


async def seed_alice_and_bob(db: asyncpg.Pool) -> None:
    """alice: item-a with acc-a1 and acc-a2; bob: item-b with acc-b1."""
    await add_item(db, "item-a", "alice")
    await add_account(db, "acc-a1", "item-a", "alice")
    await add_account(db, "acc-a2", "item-a", "alice", current=2500.0)
    await add_item(db, "item-b", "bob")
    await add_account(db, "acc-b1", "item-b", "bob")
