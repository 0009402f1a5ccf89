"""The outbox relay: publishes committed outbox rows to Kafka in `position` order, then deletes them.

Exactly one relay per schema publishes at a time (relay_leadership.py: a session advisory lock on a
connection that does nothing else, proven held before each hand-over to Kafka; a relay that loses it
stops at once and waits to lead again), so rows of one key reach their partition in the order they were
written. It wakes on the outbox's NOTIFY channel (listened to on the lock connection) and polls as a
fallback. After any failed send it starts again from the lowest unacknowledged row with a fresh producer,
one record at a time for that unit, and dead-letters a row Kafka refuses on its own (relay_producers.py).

Each batch: read unsent rows in order, send them all (the idempotent producer keeps per-partition order),
wait for every acknowledgement, then delete the batch (Kafka is the record of what was published; a
delete is cheaper than marking the row). Killed anywhere in between, the next relay republishes the rows
still there: at-least-once, nothing lost; consumers deduplicate by event id. Every row in the outbox is
unsent.

A row naming a batch (`outbox.release_batch`) stands for that batch's staged rows: they are published in
`seq` order at the row's place in the order, as many per relay step as the batch size allows (a step may
hold plain rows and several small batches, or a chunk of a large one), deleted once acknowledged, and the
releasing row with the batch's last rows (so a half-published batch stays released across a crash).
"""

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from .backoff import Backoff, Stopped, pause, retry
from .db import check_schema
from .outbox import channel
from .outbox_gauges import OutboxGauges
from .pipeline_metrics import PipelineMetrics
from .relay_leadership import Leadership, LeadershipLost
from .relay_sending import ProducerFactory, RelayProducers, RelaySender
from .runtime import Periodic

log = structlog.get_logger(__name__)

FETCH = """SELECT position, topic, key, event_type, payload, headers, batch_id, batch_first, batch_last
           FROM outbox WHERE position NOT IN (SELECT unnest($1::bigint[])) ORDER BY position LIMIT $2"""
# (NOT IN over a subquery is a hashed subplan: 2.3 ms against 2,000 rows in flight, where the generic
# plan of `position <> ALL($1)` compares every row with every element: 49.6 ms.)
DELETE_SENT = "DELETE FROM outbox WHERE position = ANY($1::bigint[])"
# A batch is read a range of its (contiguous) `seq` at a time and sorted here: freshly COPYed rows have
# no statistics, so `ORDER BY seq LIMIT n` is planned as a bitmap scan of the whole rest of the batch
# and a sort spilling to disk (measured: 70-100 ms per 5,000-row chunk of a 50,000-row batch).
FETCH_BATCH = """SELECT batch_id, seq, topic, key, event_type, payload FROM outbox_batch_rows
                 WHERE batch_id = $1 AND seq BETWEEN $2 AND $3"""
DELETE_BATCH_ROWS = "DELETE FROM outbox_batch_rows WHERE batch_id = $1 AND seq BETWEEN $2 AND $3"
# a batch's rows are deleted by the released range only: a row staged after its release was never sent
DELETE_BATCHES = """DELETE FROM outbox_batch_rows r USING unnest($1::uuid[], $2::bigint[], $3::bigint[])
                        AS b(id, first, last) WHERE r.batch_id = b.id AND r.seq BETWEEN b.first AND b.last"""


@dataclass
class _Unit:
    """What one step of the pipeline sent, and what to delete once Kafka has acknowledged all of it."""

    acks: "asyncio.Future[list[object]]"
    positions: list[int]  # outbox rows: plain ones and the releasing rows of batches sent whole
    batches: list[tuple[uuid.UUID, int, int]]  # batches whose last rows are in this unit, with their range
    part: tuple[uuid.UUID, int, int] | None  # a batch this unit sent only a seq range of
    count: int  # events sent


def _abandon(pending: "asyncio.Future[Any]") -> None:
    if not pending.done():
        pending.cancel()
    elif not pending.cancelled():
        pending.exception()  # retrieved: its rows stay in the outbox and go out again


RETRIED: tuple[type[BaseException], ...] = (
    KafkaError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


@dataclass
class RelayConfig:
    schema: str
    batch_size: int = 1000
    poll_interval: float = 0.5
    backoff: Backoff = field(default_factory=lambda: Backoff(base=0.2, cap=5.0))
    # a row larger than this is dead-lettered unsent (Kafka's default max.message.bytes is 1,048,588)
    max_record_bytes: int = 1_000_000
    rejoin_after: float = 3.0  # seconds a relay that lost its lock waits before it competes for it again
    sample_interval: float = 5.0  # seconds between two samples of the backlog gauges (outbox_gauges.py)
    stall_seconds: float = 60.0  # a leading relay whose loop has not moved for this long is not ready


class OutboxRelay:
    """`producer`: a started producer shared with the service, used until a send fails; `new_producer`:
    a factory for the relay's own (started, replaced and stopped by the relay). One of them is needed."""

    def __init__(
        self,
        config: RelayConfig,
        *,
        pool: asyncpg.Pool,
        metrics: PipelineMetrics,
        producer: AIOKafkaProducer | None = None,
        new_producer: ProducerFactory | None = None,
    ) -> None:
        check_schema(config.schema)
        self.config = config
        self._pool, self._metrics = pool, metrics
        self._gauges = OutboxGauges(pool, metrics)
        self._wake = asyncio.Event()
        self._leadership = Leadership(pool, config.schema, on_lost=self._wake.set)
        self._leading = False  # publish only while the lock is proven held (`publish_available` alone: not)
        self._sender = RelaySender(
            RelayProducers(producer, new_producer),
            metrics,
            max_record_bytes=config.max_record_bytes,
            check=self._check_leadership,
        )
        self._stopping = asyncio.Event()
        self.leading = asyncio.Event()
        self._running = False
        self._beat = 0.0  # time.monotonic() when the leading loop last started a step or a unit

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def health(self) -> str | None:
        """None while the relay runs: leading and moving, or standing by while another replica leads."""
        if not self._running:
            return "outbox relay: not running"
        if self._leading:
            idle = time.monotonic() - self._beat
            if idle > self.config.stall_seconds:
                return f"outbox relay: leading but stuck for {idle:.0f} s"
        return None

    async def run(self) -> None:
        """Lead (wait for the lock), publish until stopped; after losing the lock, wait to lead again.
        Meanwhile, led or not, sample the backlog into the outbox gauges (outbox_gauges.py)."""
        sampler = Periodic("outbox-gauges", self._gauges.sample, self.config.sample_interval)
        sampling = asyncio.create_task(sampler.run(), name="outbox-gauges")
        self._running = True
        try:
            while await self.lead():
                try:
                    await self._leadership.listen(channel(self.config.schema), self._on_notify)
                    await self._loop()
                    return
                except LeadershipLost as exc:
                    self._metrics.outbox_leadership_lost.inc()
                    log.error("outbox relay lost its lock: stopped publishing", reason=str(exc))
                finally:
                    await self.resign()
                # a replica whose connection is fine (it polls every second) takes over meanwhile
                if await pause(self._stopping, self.config.rejoin_after):
                    return
        finally:
            self._running = False
            sampler.stop()
            await asyncio.gather(sampling, return_exceptions=True)
            await self._sender.close()

    async def lead(self) -> bool:
        """Take the lock (waiting while another relay holds it); False when stopped first."""
        if not await self._leadership.acquire(self._stopping):
            return False
        self._beat = time.monotonic()
        self._leading = True
        self.leading.set()
        return True

    async def resign(self) -> None:
        self.leading.clear()
        self._leading = False
        await self._leadership.release()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass
        self._wake.clear()

    async def _loop(self) -> None:
        def failed(exc: BaseException, attempt: int) -> None:
            self._metrics.outbox_errors.inc()
            log.warning("outbox publish failed, retrying", error=type(exc).__name__, attempt=attempt)

        while not self._stopping.is_set():
            self._beat = time.monotonic()
            if self._leadership.lost:  # the lock connection dropped while there was nothing to send
                raise LeadershipLost("the lock connection is gone")
            try:
                published = await retry(
                    self.publish_available,
                    backoff=self.config.backoff,
                    retry_on=RETRIED,
                    give_up=(LeadershipLost,),
                    stopping=self._stopping,
                    until_stopped=True,
                    on_retry=failed,
                )
            except Stopped:
                return
            if not published:
                await self._sleep(self.config.poll_interval)

    async def publish_available(self) -> int:
        """Publish every row visible now; returns how many were published (acknowledged, then deleted).

        Two units are in flight at most: while Kafka acknowledges unit N, unit N+1 is read and sent; once
        N is acknowledged, its DELETE runs while N+2 is read and sent. A unit is the LOWEST visible rows
        other than those sent and not yet deleted (never "rows after N": a row that commits late with a
        lower position must go out before later rows of its key that committed after it), `batch_size`
        events at most, a row that releases a batch standing for the batch's rows in `seq` order. A
        batch larger than what is left of a unit is cut: the unit ends with a range of it, and the next
        units carry on from there (the releasing row stays until the batch's last rows are deleted).
        Everything is deleted only after its acknowledgements, in the order it was sent.
        """
        total = 0
        progress: dict[uuid.UUID, int] = {}  # batch -> the next seq to send
        inflight: _Unit | None = None
        sending: _Unit | None = None
        deleting: tuple[_Unit, asyncio.Future[int]] | None = None
        try:
            while True:
                self._beat = time.monotonic()
                excluded = (inflight.positions if inflight else []) + (
                    deleting[0].positions if deleting else []
                )
                sending = await self._next_unit(excluded, progress)
                if inflight is not None:
                    acked_at = await self._acknowledged(inflight.acks)
                    if deleting is not None:
                        total += await deleting[1]
                    deleting = (inflight, asyncio.ensure_future(self._delete(inflight, acked_at)))
                inflight, sending = sending, None
                if inflight is None:
                    break
            if deleting is not None:
                total += await deleting[1]
                deleting = None
        except (KafkaError, LeadershipLost):
            self._sender.failed()  # nothing more from this producer: what it holds could land after that
            raise
        finally:  # after a failure: nothing left running, no exception left unretrieved
            for unit in (inflight, sending):
                if unit is not None:
                    _abandon(unit.acks)
            if deleting is not None:
                _abandon(deleting[1])
        return total

    async def _next_unit(self, excluded: list[int], progress: dict[uuid.UUID, int]) -> _Unit | None:
        rows = await self._pool.fetch(FETCH, excluded, self.config.batch_size)
        if not rows:
            return None
        budget = self.config.batch_size
        out: list[asyncpg.Record] = []
        positions: list[int] = []
        batches: list[tuple[uuid.UUID, int, int]] = []
        part = None
        for r in rows:
            if budget <= 0:
                break
            batch = r["batch_id"]
            if batch is None:
                out.append(r)
                positions.append(r["position"])
                budget -= 1
                continue
            low = start = progress.get(batch, r["batch_first"])
            last = r["batch_last"]
            while budget > 0 and start <= last:
                high = min(last, start + budget - 1)
                chunk = await self._pool.fetch(FETCH_BATCH, batch, start, high)
                chunk.sort(key=lambda c: c["seq"])
                out.extend(chunk)
                budget -= len(chunk)  # fewer than asked only after a crash deleted some of them
                start = high + 1
            progress[batch] = start
            if start <= last:  # the rest of the batch, and everything after it, in the next units
                part = (batch, low, start - 1)
                break
            positions.append(r["position"])
            batches.append((batch, r["batch_first"], last))
        return _Unit(await self._send(out), positions, batches, part, len(out))

    async def _send(self, rows: list[asyncpg.Record]) -> asyncio.Future[list[object]]:
        """Hand a unit to Kafka (after proving the lock is held); a future of its acknowledgements."""
        return await self._sender.send(rows)

    async def _check_leadership(self) -> None:
        if self._leading:
            await self._leadership.check()

    async def _acknowledged(self, acks: asyncio.Future[list[object]]) -> float:
        """Wait for a unit's acknowledgements; returns when the wait started (for the batch metric)."""
        started = time.perf_counter()
        results = await acks
        for topic, count in Counter(meta.topic for meta in results).items():  # type: ignore[attr-defined]
            self._metrics.outbox_published.labels(topic).inc(count)
        return started

    async def _delete(self, unit: _Unit, started: float) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            if unit.positions:
                await conn.execute(DELETE_SENT, unit.positions)
            if unit.batches:
                await conn.execute(
                    DELETE_BATCHES, *(list(column) for column in zip(*unit.batches, strict=True))
                )
            if unit.part:
                await conn.execute(DELETE_BATCH_ROWS, *unit.part)
        self._metrics.outbox_batch.observe(time.perf_counter() - started)
        return unit.count
