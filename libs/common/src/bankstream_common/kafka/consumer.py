"""The consumer runner: each event applied once in effect, offsets committed only after the database.

For every record, in partition order: decode the envelope; in ONE database transaction claim it in the
inbox (a redelivery does nothing) and run the handler; then remember `offset + 1`, and commit remembered
offsets after each batch, when partitions are revoked and on a clean stop. A crash after the database
commit and before the offset commit redelivers the record, and the inbox makes that a no-op.

Failures are classified (see bankstream_common.errors): undecodable or schema-invalid records, permanent
handler errors and exhausted retries go to `<topic>.dlq` with the reason and the original headers, and the
runner moves on; transient errors are retried with backoff; losing PostgreSQL pauses the partition until
it answers again (the event is fine, the world is not), so nothing is dead-lettered for an outage.
Partitions of one batch are processed concurrently; records of one partition strictly in order.

With a `batch_handler`, the records of one partition fetched together are first applied in ONE database
transaction (inbox claims for all, then the batch handler with the events not applied before, in order):
a handler that can work on many events at once saves a transaction per event. If anything in that
transaction fails, it rolls back whole and the same records are applied one by one as above, so a poison
record is still dead-lettered alone with its reason and the rest applied.
"""

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeAlias

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from pydantic import ValidationError

from .. import inbox
from ..backoff import Backoff
from ..envelope import Envelope, EnvelopeError, describe
from ..errors import PermanentError
from ..pipeline_metrics import PipelineMetrics
from .dead_letter import dead_letter

log = structlog.get_logger(__name__)

Handler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]
BatchHandler = Callable[[asyncpg.Connection, list[Envelope]], Awaitable[None]]
Record: TypeAlias = ConsumerRecord[bytes, bytes]

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
)


class _Poison(Exception):
    def __init__(self, reason: str, error_class: str) -> None:
        super().__init__(reason)
        self.reason, self.error_class = reason, error_class


@dataclass
class ConsumerConfig:
    name: str  # the inbox's consumer name and the Kafka group id
    topics: list[str]
    bootstrap_servers: str
    max_records: int = 500
    backoff: Backoff = field(default_factory=Backoff)
    infra_backoff: Backoff = field(default_factory=lambda: Backoff(base=0.2, cap=5.0))
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    inbox_retention: dt.timedelta = inbox.RETENTION
    inbox_prune_interval: float = 3600.0  # seconds between two prunings of this consumer's inbox


class ConsumerRunner:
    def __init__(
        self,
        config: ConsumerConfig,
        *,
        pool: asyncpg.Pool,
        handler: Handler,
        producer: AIOKafkaProducer,
        metrics: PipelineMetrics,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        self.config = config
        self._pool, self._handler, self._producer, self._metrics = pool, handler, producer, metrics
        self._batch_handler = batch_handler
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=config.bootstrap_servers,
            group_id=config.name,
            client_id=config.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            session_timeout_ms=config.session_timeout_ms,
            heartbeat_interval_ms=config.heartbeat_interval_ms,
        )
        self._done: dict[TopicPartition, int] = {}
        self._stopping = asyncio.Event()
        self.started = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        await self._consumer.start()
        self._consumer.subscribe(self.config.topics, listener=_CommitOnRevoke(self))
        self.started.set()
        log.info("consumer started", consumer=self.config.name, topics=self.config.topics)
        try:
            next_prune = time.monotonic()
            while not self._stopping.is_set():
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + self.config.inbox_prune_interval
                    await self.prune_inbox()
                batch = await self._consumer.getmany(timeout_ms=300, max_records=self.config.max_records)
                if batch:
                    await asyncio.gather(*(self._process_partition(tp, recs) for tp, recs in batch.items()))
                    await self._commit()
        finally:
            await self._commit()
            await self._consumer.stop()
            log.info("consumer stopped", consumer=self.config.name)

    def stop(self) -> None:
        """Finish the record in hand, commit what is done, and return from `run`."""
        self._stopping.set()

    async def prune_inbox(self) -> int:
        """Forget applied events older than the inbox retention; a database outage only postpones it."""
        try:
            pruned = await inbox.prune(self._pool, self.config.name, self.config.inbox_retention)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("inbox pruning failed, retrying later", error=type(exc).__name__)
            return 0
        if pruned:
            log.info("inbox pruned", consumer=self.config.name, rows=pruned)
        return pruned

    # -- processing ----------------------------------------------------------------------------------------

    async def _process_partition(self, tp: TopicPartition, records: list[Record]) -> None:
        if self._batch_handler is not None and len(records) > 1 and await self._process_batch(tp, records):
            return
        for record in records:
            if self._stopping.is_set() or tp not in self._consumer.assignment():
                return
            outcome = await self._process(record)
            if outcome is None:  # stopped while waiting for PostgreSQL: this record is not done
                return
            self._metrics.consumed.labels(record.topic, outcome).inc()
            self._done[tp] = record.offset + 1

    async def _process_batch(self, tp: TopicPartition, records: list[Record]) -> bool:
        """All of `records` in one transaction; False (nothing applied) if any part of it fails."""
        assert self._batch_handler is not None
        if self._stopping.is_set() or tp not in self._consumer.assignment():
            return True  # nothing done: the next owner (or run) reads them again
        try:
            events = [Envelope.from_json(r.value) for r in records]
        except EnvelopeError:
            return False
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                fresh = await inbox.claim_many(conn, self.config.name, events)
                if fresh:
                    await self._batch_handler(conn, fresh)
        except Exception as exc:  # noqa: BLE001 - the one-by-one path classifies what failed
            log.info("batch not applied, applying its records one by one", error=type(exc).__name__)
            return False
        topic = records[0].topic
        self._metrics.consumed.labels(topic, "applied").inc(len(fresh))
        if len(records) > len(fresh):
            self._metrics.consumed.labels(topic, "duplicate").inc(len(records) - len(fresh))
        self._done[tp] = records[-1].offset + 1
        return True

    async def _process(self, record: Record) -> str | None:
        structlog.contextvars.bind_contextvars(
            topic=record.topic, partition=record.partition, offset=record.offset
        )
        try:
            try:
                event = Envelope.from_json(record.value)
            except EnvelopeError as exc:
                raise _Poison(f"undecodable envelope: {exc}", "EnvelopeError") from None
            structlog.contextvars.bind_contextvars(event_id=str(event.id), event_type=event.type)
            return await self._apply_with_retries(record, event)
        except _Poison as poison:
            await self._dead_letter(record, poison)
            return "dead_lettered"
        finally:
            structlog.contextvars.unbind_contextvars("topic", "partition", "offset", "event_id", "event_type")

    async def _apply_with_retries(self, record: Record, event: Envelope) -> str | None:
        attempt = infra_attempt = 0
        while True:
            started = time.perf_counter()
            try:
                applied = await self._apply(event)
                self._metrics.handle_seconds.labels(record.topic).observe(time.perf_counter() - started)
                return "applied" if applied else "duplicate"
            except PermanentError as exc:
                raise _Poison(f"permanent handler error: {exc}", type(exc).__name__) from None
            except ValidationError as exc:
                raise _Poison(f"schema-invalid data: {describe(exc)}", "ValidationError") from None
            except INFRASTRUCTURE_ERRORS as exc:
                self._metrics.retries.labels(record.topic, "infrastructure").inc()
                log.warning("database unavailable, waiting", error=type(exc).__name__)
                if await self._pause(self.config.infra_backoff.delay(min(infra_attempt, 6))):
                    return None
                infra_attempt += 1
            except Exception as exc:  # noqa: BLE001 - unclassified is transient, bounded by max_attempts
                if attempt + 1 >= self.config.backoff.max_attempts:
                    raise _Poison(
                        f"retries exhausted after {attempt + 1} attempts: {type(exc).__name__}: {exc}",
                        type(exc).__name__,
                    ) from None
                self._metrics.retries.labels(record.topic, "transient").inc()
                log.warning("handler failed, retrying", error=type(exc).__name__, attempt=attempt + 1)
                if await self._pause(self.config.backoff.delay(attempt)):
                    return None
                attempt += 1

    async def _apply(self, event: Envelope) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await inbox.claim(conn, self.config.name, event):
                return False
            await self._handler(conn, event)
            return True

    async def _pause(self, seconds: float) -> bool:
        """Sleep unless stopping; True when the runner is stopping."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    async def _dead_letter(self, record: Record, poison: _Poison) -> None:
        reason = poison.reason[:1500]
        log.error("event dead-lettered", reason=reason, error_class=poison.error_class)
        while True:
            try:
                await dead_letter(
                    self._producer,
                    record,
                    consumer=self.config.name,
                    reason=reason,
                    error_class=poison.error_class,
                )
                return
            except KafkaError as exc:  # the DLQ write must succeed before the offset moves on
                log.warning("dead-letter publish failed, retrying", error=type(exc).__name__)
                await asyncio.sleep(1.0)

    # -- offsets ---------------------------------------------------------------------------------------------

    async def _commit(self, only: Iterable[TopicPartition] | None = None) -> None:
        wanted = set(only) if only is not None else set(self._done)
        offsets = {tp: OffsetAndMetadata(off, "") for tp, off in self._done.items() if tp in wanted}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # Rebalanced away: the next owner re-reads from the last commit and the inbox absorbs it.
            log.warning("offset commit failed", error=type(exc).__name__)
        for tp, meta in offsets.items():
            if self._done.get(tp) == meta.offset:
                del self._done[tp]


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._runner._commit(only=revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("partitions assigned", partitions=len(assigned))
