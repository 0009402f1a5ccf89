"""A sync-worker wired by its own bootstrap() against the real Kafka, PostgreSQL and the Plaid emulator,
isolated by a unique schema, topic prefix and consumer group; tokens come from the test (link-svc is not
running), Plaid calls go over HTTP to the emulator."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from bankstream_common.backoff import Backoff
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.producer import create_producer
from bankstream_common.testing.issuer import TEST_ISSUER
from sync_worker.bootstrap import Container, bootstrap
from sync_worker.config import Settings
from sync_worker.domain.errors import ItemUnknown
from sync_worker.domain.policy import RetryPolicy

FAST_POLICY = RetryPolicy(
    call_backoff=Backoff(base=0.05, cap=0.2, max_attempts=4),
    rate_limit_backoff=Backoff(base=0.05, cap=0.3, max_attempts=5, floor=0.05),
    max_restarts=3,
    restart_backoff=Backoff(base=0.05, cap=0.2),
    run_backoff=Backoff(base=0.2, cap=1.0, max_attempts=3),
)


class EmulatorTokens:
    """The test's TokenProvider: tokens the test got from the emulator, optionally read from a JSON file
    (for a worker running as a subprocess)."""

    def __init__(self, tokens: dict[str, str] | None = None, path: Path | None = None) -> None:
        self.tokens = dict(tokens or {})
        self.path = path

    async def access_token(self, item_id: str) -> str:
        if item_id not in self.tokens and self.path is not None and self.path.exists():
            self.tokens.update(json.loads(self.path.read_text()))
        try:
            return self.tokens[item_id]
        except KeyError:
            raise ItemUnknown("ACCESS_TOKEN_NOT_FOUND", "TOKEN_PROVIDER") from None

    async def aclose(self) -> None:
        return None


def settings_for(
    *, database_url: str, kafka: str, emulator_url: str, client_id: str, secret: str, uid: str, **extra: Any
) -> Settings:
    values: dict[str, Any] = dict(
        env="test",
        database_url=database_url,
        kafka_bootstrap_servers=kafka,
        plaid_base_url=emulator_url,
        plaid_client_id=client_id,
        plaid_secret=secret,
        link_svc_token="test-service-token-7d1e",
        **TEST_ISSUER.fields(),
        schema_name=f"sw_{uid}",
        topic_prefix=f"t{uid}.",
        consumer_group=f"sync-worker-{uid}",
        topic_partitions=3,
        lease_seconds=3.0,
        poll_interval_seconds=0.2,
        not_ready_retry_seconds=0.3,
        quiet_check_interval_seconds=3600.0,
        plaid_sync_window_seconds=2.0,  # Plaid's window is a minute: a 429 would hold an Item that long
    )
    values.update(extra)
    return Settings(**values)


@dataclass
class Worker:
    container: Container
    producer: AIOKafkaProducer
    tokens: EmulatorTokens

    @property
    def settings(self) -> Settings:
        return self.container.settings

    @property
    def pool(self) -> asyncpg.Pool:
        return self.container.pool

    def topic(self, name: str) -> str:
        return self.settings.topic_prefix + name

    async def publish(
        self, topic: str, event_type: str, data: dict[str, Any], event: Envelope | None = None
    ) -> Envelope:
        event = event or Envelope.new(
            source="bankstream/test", type=event_type, subject=data["item_id"], data=data
        )
        await self.producer.send_and_wait(
            self.topic(topic), value=event.to_json(), key=data["item_id"].encode()
        )
        return event

    async def link(self, item_id: str, access_token: str) -> None:
        self.tokens.tokens[item_id] = access_token
        await self.publish(
            "bankstream.items",
            "bankstream.item.linked.v1",
            {"item_id": item_id, "user_id": "u1", "institution_id": "ins_109508", "accounts": []},
        )

    async def request_sync(self, item_id: str, refresh: bool = False, from_scratch: bool = False) -> None:
        data: dict[str, Any] = {"item_id": item_id, "refresh": refresh}
        if from_scratch:  # absent otherwise: what a producer that predates the field sends
            data["from_scratch"] = True
        await self.publish("bankstream.sync-requests", "bankstream.sync.requested.v1", data)

    async def runs(self, item_id: str) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT * FROM sync_runs WHERE item_id = $1 ORDER BY started_at", item_id
        )

    async def wait_runs(
        self, item_id: str, n: int, timeout: float = 60.0, outcome: str | None = None
    ) -> list[asyncpg.Record]:
        """Until the Item has `n` finished runs (of `outcome`, if given) and nothing left to publish."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            runs = [r for r in await self.runs(item_id) if outcome is None or r["outcome"] == outcome]
            unsent = await self.pool.fetchval("SELECT count(*) FROM outbox")
            if len(runs) >= n and unsent == 0:
                return runs
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{item_id}: {len(runs)} runs after {timeout}s, {unsent} unsent: {runs}")
            await asyncio.sleep(0.1)

    async def item(self, item_id: str) -> asyncpg.Record:
        return await self.pool.fetchrow("SELECT * FROM sync_items WHERE item_id = $1", item_id)


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, policy: RetryPolicy = FAST_POLICY, tokens: EmulatorTokens | None = None
) -> AsyncIterator[Worker]:
    tokens = tokens or EmulatorTokens()
    container = await bootstrap(settings, tokens=tokens, policy=policy)
    task = asyncio.create_task(container.supervisor.run())
    producer = create_producer(settings.kafka_bootstrap_servers, client_id="sync-worker-test")
    await producer.start()
    try:
        await asyncio.wait_for(container.supervisor.ready.wait(), 30)
        await asyncio.wait_for(container.consumer.started.wait(), 30)
        yield Worker(container, producer, tokens)
    finally:
        container.supervisor.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)
        await producer.stop()
        await container.aclose()
