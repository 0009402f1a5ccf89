"""The batch consumer runner: a partition's records applied together, once in effect, in ONE transaction.

`ConsumerRunner` applies one event per database transaction: simple, and bounded by a few round trips per
event. `BatchConsumerRunner` keeps its guarantees and changes only the unit of work. For the records one
poll returned for one partition, in order:

    decode every envelope            an undecodable one is dead-lettered at once (it can never apply);
                                     with the runner's `decode` (Envelope.from_json unless given)
    ONE transaction:
      claim them all in the inbox    one INSERT ... SELECT unnest ... ON CONFLICT DO NOTHING RETURNING
      handler(conn, claimed)         the events not applied before, in partition order, duplicates removed
    remember the last offset + 1     committed as ConsumerRunner commits (after the batch, on revoke, on stop)

If the batch fails because PostgreSQL is away, it waits and retries the whole batch (nothing is
dead-lettered for an outage). If it fails for any other reason, the batch is rolled back and its events are
applied again ONE AT A TIME through ConsumerRunner's own path (`handler(conn, [event])`), so the poison
event alone is classified (dead-lettered with its reason, or retried if transient) and the rest apply.
A handler must therefore accept any sub-list of a batch, in order; it sees every event exactly once in
effect, as the one-by-one runner guarantees.
"""

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer, TopicPartition

from .. import inbox
from ..backoff import Stopped, retry
from ..envelope import Envelope, EnvelopeError
from ..pipeline_metrics import PipelineMetrics
from .consumer import INFRASTRUCTURE_ERRORS, ConsumerConfig, ConsumerRunner, Decoder, Record, _Poison

log = structlog.get_logger(__name__)

BatchHandler = Callable[[asyncpg.Connection, Sequence[Envelope]], Awaitable[None]]


class _BatchFailed(Exception):
    """The batch failed for a reason other than an outage: its events are applied one by one."""


class BatchConsumerRunner(ConsumerRunner):
    """ConsumerRunner whose handler receives a partition's polled events in one transaction."""

    def __init__(
        self,
        config: ConsumerConfig,
        *,
        pool: asyncpg.Pool,
        handler: BatchHandler,
        producer: AIOKafkaProducer,
        metrics: PipelineMetrics,
        decode: Decoder = Envelope.from_json,
    ) -> None:
        async def one(conn: asyncpg.Connection, event: Envelope) -> None:
            await handler(conn, [event])

        super().__init__(config, pool=pool, handler=one, producer=producer, metrics=metrics, decode=decode)
        self._batch_handler = handler

    async def _process_partition(self, tp: TopicPartition, records: list[Record]) -> bool:
        if self._stopping.is_set() or tp not in self._consumer.assignment():
            return False
        decoded: list[tuple[Record, Envelope]] = []
        for record in records:
            try:
                decoded.append((record, self._decode(record.value)))
            except EnvelopeError as exc:
                if decoded:  # apply what precedes it first: a partition's order holds
                    done = await self._process_decoded(tp, decoded)
                    decoded = []
                    if not done:
                        return False  # stopped before all of it was done: the rest is not done either
                poison = _Poison(f"undecodable envelope: {exc}", "EnvelopeError")
                if not await self._dead_letter(record, poison):
                    return False  # stopped before the DLQ took it: redelivered
                self._metrics.consumed.labels(record.topic, "dead_lettered").inc()
                self._done[tp] = record.offset + 1
        return await self._process_decoded(tp, decoded) if decoded else True

    async def _process_decoded(self, tp: TopicPartition, decoded: list[tuple[Record, Envelope]]) -> bool:
        """True when every event was done."""
        try:
            applied = await self._apply_batch_waiting([e for _, e in decoded], tp.topic)
        except _BatchFailed:  # not an outage: one by one, as ConsumerRunner does, to classify each event
            return await super()._process_partition(tp, [r for r, _ in decoded])
        if applied is None:  # stopped while waiting for PostgreSQL: nothing of this batch is done
            return False
        fresh = sum(1 for _, e in decoded if e.id in applied)
        self._metrics.consumed.labels(tp.topic, "applied").inc(fresh)
        self._metrics.consumed.labels(tp.topic, "duplicate").inc(len(decoded) - fresh)
        self._done[tp] = decoded[-1][0].offset + 1
        return True

    async def _apply_batch_waiting(self, events: list[Envelope], topic: str) -> set[uuid.UUID] | None:
        """The ids applied, or None when the runner stopped while PostgreSQL was away; raises _BatchFailed
        when the batch failed for any other reason."""

        def unreachable(exc: BaseException, attempt: int) -> None:
            self._metrics.retries.labels(topic, "infrastructure").inc()
            log.warning("database unavailable, waiting", error=type(exc).__name__, attempt=attempt)

        started = time.perf_counter()
        try:
            applied = await retry(
                lambda: self._apply_batch(events),
                backoff=self.config.infra_backoff,
                retry_on=INFRASTRUCTURE_ERRORS,
                stopping=self._stopping,
                until_stopped=True,
                on_retry=unreachable,
            )
        except Stopped:
            return None
        except Exception as exc:  # classified event by event on the one-by-one path
            self._metrics.retries.labels(topic, "batch_split").inc()
            log.warning("batch failed, applying its events one by one", error=type(exc).__name__)
            raise _BatchFailed from exc
        per_event = (time.perf_counter() - started) / len(events)
        handle_seconds = self._metrics.handle_seconds.labels(topic)  # the lookup once per batch
        for _ in events:
            handle_seconds.observe(per_event)
        return applied

    async def _apply_batch(self, events: list[Envelope]) -> set[uuid.UUID]:
        async with self._pool.acquire() as conn, conn.transaction():
            claimed = await inbox.claim_many(conn, self.config.name, events)
            if claimed:
                await self._batch_handler(conn, claimed)
            return {e.id for e in claimed}
