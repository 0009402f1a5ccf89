"""The outbox relay: publishes committed outbox rows to Kafka in `position` order and marks them sent.

Exactly one relay per schema publishes at a time (a session advisory lock held on a dedicated connection;
other replicas wait for it), so rows of one key reach their partition in the order they were written.
It wakes on the outbox's NOTIFY channel and polls as a fallback. Each batch: read unsent rows in order,
send them all (the idempotent producer keeps per-partition order), wait for every acknowledgement, then
mark the batch sent. Killed anywhere in between, the next relay republishes the unmarked rows: at-least-
once, nothing lost; consumers deduplicate by event id. Sent rows are pruned after `retention`.
"""

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from .backoff import Backoff
from .db import check_schema
from .outbox import channel, record_headers
from .pipeline_metrics import PipelineMetrics

log = structlog.get_logger(__name__)

FETCH = """SELECT position, topic, key, event_type, payload, headers FROM outbox
           WHERE sent_at IS NULL ORDER BY position LIMIT $1"""


@dataclass
class RelayConfig:
    schema: str
    batch_size: int = 1000
    poll_interval: float = 0.5
    retention: timedelta = timedelta(hours=24)
    prune_every: float = 60.0
    backoff: Backoff = Backoff(base=0.2, cap=5.0)


class OutboxRelay:
    def __init__(
        self, config: RelayConfig, *, pool: asyncpg.Pool, producer: AIOKafkaProducer, metrics: PipelineMetrics
    ) -> None:
        check_schema(config.schema)
        self.config = config
        self._pool, self._producer, self._metrics = pool, producer, metrics
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.leading = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        async with self._pool.acquire() as leader:
            if not await self._lead(leader):
                return
            await leader.add_listener(channel(self.config.schema), self._on_notify)
            try:
                await self._loop()
            finally:
                await leader.remove_listener(channel(self.config.schema), self._on_notify)
                await leader.execute(
                    "SELECT pg_advisory_unlock(hashtext('bankstream.outbox'), hashtext($1))",
                    self.config.schema,
                )

    async def _lead(self, conn: asyncpg.Connection) -> bool:
        while not self._stopping.is_set():
            if await conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtext('bankstream.outbox'), hashtext($1))", self.config.schema
            ):
                self.leading.set()
                log.info("outbox relay leading", schema=self.config.schema)
                return True
            await self._sleep(1.0)
        return False

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass
        self._wake.clear()

    async def _loop(self) -> None:
        failures = 0
        last_prune = 0.0
        while not self._stopping.is_set():
            try:
                published = await self.publish_batch()
                failures = 0
            except (KafkaError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self._metrics.outbox_errors.inc()
                log.warning("outbox publish failed, retrying", error=type(exc).__name__)
                await self._sleep(self.config.backoff.delay(min(failures, 6)))
                failures += 1
                continue
            if time.monotonic() - last_prune > self.config.prune_every:
                await self._prune()
                last_prune = time.monotonic()
            if published < self.config.batch_size:
                await self._sleep(self.config.poll_interval)

    async def publish_batch(self) -> int:
        """Publish one batch of unsent rows; returns how many were published and marked sent."""
        rows = await self._pool.fetch(FETCH, self.config.batch_size)
        if not rows:
            self._metrics.outbox_lag.set(0)
            return 0
        started = time.perf_counter()
        futures = [
            await self._producer.send(
                r["topic"],
                value=r["payload"],
                key=r["key"].encode(),
                headers=record_headers(r["event_type"], r["headers"]),
            )
            for r in rows
        ]
        await asyncio.gather(*futures)
        await self._pool.execute(
            "UPDATE outbox SET sent_at = now() WHERE position = ANY($1::bigint[])",
            [r["position"] for r in rows],
        )
        self._metrics.outbox_batch.observe(time.perf_counter() - started)
        for r in rows:
            self._metrics.outbox_published.labels(r["topic"]).inc()
        oldest = await self._pool.fetchval(
            "SELECT extract(epoch FROM now() - min(created_at)) FROM outbox WHERE sent_at IS NULL"
        )
        self._metrics.outbox_lag.set(float(oldest or 0))
        return len(rows)

    async def _prune(self) -> None:
        deleted = await self._pool.execute(
            "DELETE FROM outbox WHERE sent_at < now() - $1::interval", self.config.retention
        )
        log.debug("outbox pruned", result=deleted)
