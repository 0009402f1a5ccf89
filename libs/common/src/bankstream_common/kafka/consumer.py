"""The consumer runner: each event applied once in effect, offsets committed only after the database.

For every record, in partition order: decode the envelope; in ONE database transaction claim it in the
inbox (a redelivery does nothing) and run the handler; then remember `offset + 1`, and commit remembered
offsets after each batch, when partitions are revoked and on a clean stop. A crash after the database
commit and before the offset commit redelivers the record, and the inbox makes that a no-op.

Failures are classified (see bankstream_common.errors): undecodable or schema-invalid records, permanent
handler errors and exhausted retries go to `<topic>.dlq` with the reason and the original headers, and the
runner moves on; so are values the database refuses (DATA_ERRORS), at once; transient errors are retried
with backoff; losing PostgreSQL, or a PostgreSQL that can serve no one for now (INFRASTRUCTURE_ERRORS),
pauses the partition until it answers again (the event is fine, the world is not), so nothing is
dead-lettered for an outage. A
dead letter too large for its DLQ goes without its value (kafka/dead_letter.py); a DLQ that cannot be
written (Kafka errors) is retried with backoff, and the offset never moves past that record meanwhile.
`stop()` is honoured at any wait (a backoff, a DLQ write): the record in hand is then not done, offsets
of what is done are committed, and `run` returns. An offset is forgotten only after a commit of it
succeeded.

Partitions of one poll are processed concurrently; records of one partition strictly in order. Polls
overlap: the loop polls again while the previous poll's partitions are still being applied (at most
`polls_in_flight` polls at once, so what is held in memory stays bounded), and each partition's batch
starts only when the same partition's batch of the previous poll has ended. A partition's slow batch (a
big one, a retry, a wait for the DLQ) then no longer holds back the next poll of all the others (only the
one after it: the loop waits for the oldest poll before reading a third), and PostgreSQL and this process
work at once instead of in turns. A batch never follows one of
its partition that ended early (stopped, revoked): its records would leave a gap behind the offset. Nor
does a batch fetched before a rebalance run after it: on a new assignment the consumer fetches again from
the committed offsets, and those records come again.

While it runs, a `LagSampler` (kafka/lag.py) exports the group's lag per assigned partition and the
dead-letter counts every `lag_interval` seconds, and `health()` says whether the loop still polls Kafka
and applies what it read (readiness.workers_check turns that into /readyz): a loop stuck, or a poll held,
for `stall_seconds` is not consuming.
"""

import asyncio
import datetime as dt
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeAlias

import asyncpg
import msgspec
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from pydantic import ValidationError

from .. import inbox
from ..backoff import Backoff, Stopped, interruptible, retry
from ..envelope import Envelope, EnvelopeError, describe, describe_msgspec
from ..errors import PermanentError
from ..pipeline_metrics import PipelineMetrics
from .dead_letter import dead_letter
from .lag import LagSampler

log = structlog.get_logger(__name__)

Handler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]
Record: TypeAlias = ConsumerRecord[bytes, bytes]
# A record's value -> its envelope, or EnvelopeError (dead-lettered as undecodable). A service may read the
# events it knows into a subclass of Envelope in the same pass (its data typed by its reader), as long as
# anything else decodes as Envelope.from_json would.
Decoder = Callable[[bytes | None], Envelope]

# PostgreSQL away or unable to serve anyone for now (SQLSTATE classes 08 connection, 53 insufficient
# resources: too many connections, disk full, out of memory; 57P operator intervention: shut down, starting
# up; 58 system error; 25006 a read-only server, as a standby promoted too late): the event is fine, so the
# runner waits for the database instead of counting the failure against the event.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InsufficientResourcesError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.IdleSessionTimeoutError,
    asyncpg.PostgresSystemError,
    asyncpg.ReadOnlySQLTransactionError,
)
# The event's own values break the database's rules (class 22 data exception: a number out of range, a NUL
# in text, an impossible date, a value asyncpg cannot encode; class 54 program limit: a key too long for its
# index): trying again gives the same answer, so the event is dead-lettered at once.
DATA_ERRORS: tuple[type[BaseException], ...] = (asyncpg.DataError, asyncpg.ProgramLimitExceededError)


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
    lag_interval: float = 15.0  # seconds between two samples of the lag and dead-letter gauges
    stall_seconds: float = 60.0  # a loop that has not polled, or held a poll, this long is not ready
    polls_in_flight: int = 2  # polls being applied at once (1: each poll ends before the next is read)


class ConsumerRunner:
    def __init__(
        self,
        config: ConsumerConfig,
        *,
        pool: asyncpg.Pool,
        handler: Handler,
        producer: AIOKafkaProducer,
        metrics: PipelineMetrics,
        decode: Decoder = Envelope.from_json,
    ) -> None:
        self.config = config
        self._pool, self._handler, self._producer, self._metrics = pool, handler, producer, metrics
        self._decode = decode
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
        # Each partition's last scheduled batch: the rebalance generation it was fetched in, and its task
        # (True once it processed every record of its batch).
        self._tails: dict[TopicPartition, tuple[int, asyncio.Task[bool]]] = {}
        self._batches: set[asyncio.Task[bool]] = set()  # every batch not ended yet, of any poll
        self._generation = 0  # bumped at every rebalance (_CommitOnRevoke)
        # The polls being applied, oldest first, each with the time.monotonic() it was read at; and when
        # the last one ended (the next one's batches may have waited for it until then).
        self._in_flight: deque[tuple[float, asyncio.Future[list[bool]]]] = deque()
        self._poll_ended = 0.0
        self._stopping = asyncio.Event()
        self.started = asyncio.Event()
        self._ended = False
        self._last_poll = 0.0  # time.monotonic() of the loop's last poll
        self._lag = LagSampler(
            self._consumer,
            group=config.name,
            topics=config.topics,
            bootstrap_servers=config.bootstrap_servers,
            metrics=metrics,
        )

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        await self._consumer.start()
        self._consumer.subscribe(self.config.topics, listener=_CommitOnRevoke(self))
        self._polled()
        self.started.set()
        log.info("consumer started", consumer=self.config.name, topics=self.config.topics)
        sampling = asyncio.create_task(self._sample_lag(), name=f"{self.config.name}-lag")
        polls = self._in_flight
        try:
            next_prune = time.monotonic()
            while not self._stopping.is_set():
                self._polled()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + self.config.inbox_prune_interval
                    await self.prune_inbox()
                batch = await self._consumer.getmany(timeout_ms=300, max_records=self.config.max_records)
                if batch:
                    applying = asyncio.gather(*(self._schedule(tp, recs) for tp, recs in batch.items()))
                    polls.append((time.monotonic(), applying))
                while polls and (len(polls) >= self.config.polls_in_flight or polls[0][1].done()):
                    await polls[0][1]
                    polls.popleft()
                    self._poll_ended = time.monotonic()
                    await self._commit()
            while polls:  # stopping: what is in flight ends at its next wait
                await polls[0][1]
                polls.popleft()
        finally:
            self._ended = True
            await self._cancel_batches()  # any left when `run` failed or was cancelled
            await asyncio.gather(*(applying for _, applying in polls), return_exceptions=True)
            polls.clear()
            sampling.cancel()
            await asyncio.gather(sampling, return_exceptions=True)
            await self._lag.aclose()
            await self._commit()
            await self._consumer.stop()
            log.info("consumer stopped", consumer=self.config.name)

    def stop(self) -> None:
        """Finish the record in hand, commit what is done, and return from `run`."""
        self._stopping.set()

    def health(self) -> str | None:
        """None while the loop polls Kafka and applies what it read; otherwise why this consumer is not
        consuming: the loop stopped polling, or a poll has been in hand, not yet applied, for
        `stall_seconds` (a wedged handler: the loop may read one more poll, then waits for it)."""
        name = self.config.name
        if not self.started.is_set():
            return f"consumer {name}: not started"
        if self._ended:
            return f"consumer {name}: stopped"
        now = time.monotonic()
        held = self._held(now)
        if held > self.config.stall_seconds:
            return f"consumer {name}: a poll has been in hand for {held:.0f} s"
        if now - self._last_poll > self.config.stall_seconds:
            return f"consumer {name}: has not polled Kafka for {now - self._last_poll:.0f} s"
        return None

    def _polled(self) -> None:
        """The loop polls: the progress gauge moves to now, or to when the oldest poll still being
        applied was read (a wedged batch holds it back, however often the loop polls)."""
        now = time.monotonic()
        self._last_poll = now
        self._metrics.consumer_last_poll.labels(self.config.name).set(time.time() - self._held(now))

    def _held(self, now: float) -> float:
        """How long the oldest poll in hand has been applied: since it was read, or since the poll before
        it ended if that was later (its batches waited for that one's, and are not late for it)."""
        if not self._in_flight:
            return 0.0
        return now - max(self._in_flight[0][0], self._poll_ended)

    async def _sample_lag(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._lag.sample()
            except Exception as exc:  # noqa: BLE001 - a gauge left as it was; tried again next tick
                log.warning("consumer lag sample failed", consumer=self.config.name, error=type(exc).__name__)
            await asyncio.sleep(self.config.lag_interval)

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

    def _schedule(self, tp: TopicPartition, records: list[Record]) -> asyncio.Task[bool]:
        """Start the batch's task, behind the partition's previous batch; the task is the new tail."""
        generation = self._generation
        previous = self._tails.get(tp)
        task = asyncio.create_task(self._after(previous, generation, tp, records))
        self._tails[tp] = (generation, task)
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)
        return task

    async def _cancel_batches(self) -> None:
        """Cancel every batch not ended, of every poll (a failed poll's gather has ended, but its other
        partitions' batches have not, nor those chained behind them), and wait for them to end."""
        running = list(self._batches)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _after(
        self,
        previous: tuple[int, "asyncio.Task[bool]"] | None,
        generation: int,
        tp: TopicPartition,
        records: list[Record],
    ) -> bool:
        """The batch, once the partition's previous one has ended (never both at once); skipped when that
        one ended early in the same generation, or when a rebalance came since the fetch."""
        if previous is not None:
            previous_generation, task = previous
            await asyncio.wait([task])  # neither its error nor a cancellation of this batch crosses over
            complete = not task.cancelled() and task.exception() is None and task.result()
            if not complete and previous_generation == generation:
                return False
        if generation != self._generation:
            return False
        return await self._process_partition(tp, records)

    async def _process_partition(self, tp: TopicPartition, records: list[Record]) -> bool:
        """Apply the records in order; True when every one was done (applied, a duplicate, dead-lettered)."""
        for record in records:
            if self._stopping.is_set() or tp not in self._consumer.assignment():
                return False
            outcome = await self._process(record)
            if outcome is None:  # stopped while waiting (PostgreSQL, the DLQ): this record is not done
                return False
            self._metrics.consumed.labels(record.topic, outcome).inc()
            self._done[tp] = record.offset + 1
        return True

    async def _process(self, record: Record) -> str | None:
        structlog.contextvars.bind_contextvars(
            topic=record.topic, partition=record.partition, offset=record.offset
        )
        try:
            try:
                event = self._decode(record.value)
            except EnvelopeError as exc:
                raise _Poison(f"undecodable envelope: {exc}", "EnvelopeError") from None
            structlog.contextvars.bind_contextvars(event_id=str(event.id), event_type=event.type)
            return await self._apply_with_retries(record, event)
        except _Poison as poison:
            return "dead_lettered" if await self._dead_letter(record, poison) else None
        finally:
            structlog.contextvars.unbind_contextvars("topic", "partition", "offset", "event_id", "event_type")

    async def _apply_with_retries(self, record: Record, event: Envelope) -> str | None:
        """Apply `event`; None when the runner stopped first (the record is not done)."""

        def transient(exc: BaseException, attempt: int) -> None:
            self._metrics.retries.labels(record.topic, "transient").inc()
            log.warning("handler failed, retrying", error=type(exc).__name__, attempt=attempt)

        try:
            applied = await retry(
                lambda: self._apply_until_reachable(record, event),
                backoff=self.config.backoff,
                retry_on=(Exception,),  # unclassified is transient, bounded by max_attempts
                give_up=(_Poison, Stopped),
                stopping=self._stopping,
                on_retry=transient,
            )
        except Stopped:
            return None
        except _Poison:
            raise
        except Exception as exc:  # noqa: BLE001 - the last attempt's error
            attempts = self.config.backoff.max_attempts
            raise _Poison(
                f"retries exhausted after {attempts} attempts: {type(exc).__name__}: {exc}",
                type(exc).__name__,
            ) from None
        return "applied" if applied else "duplicate"

    async def _apply_until_reachable(self, record: Record, event: Envelope) -> bool:
        """One attempt at the event, waiting (until stopped) for PostgreSQL to answer: the event is fine,
        the world is not, so an outage is never counted against the event."""

        def unreachable(exc: BaseException, attempt: int) -> None:
            self._metrics.retries.labels(record.topic, "infrastructure").inc()
            log.warning("database unavailable, waiting", error=type(exc).__name__, attempt=attempt)

        async def timed() -> bool:
            started = time.perf_counter()
            applied = await self._apply(event)
            self._metrics.handle_seconds.labels(record.topic).observe(time.perf_counter() - started)
            return applied

        try:
            return await retry(
                timed,
                backoff=self.config.infra_backoff,
                retry_on=INFRASTRUCTURE_ERRORS,
                stopping=self._stopping,
                until_stopped=True,
                on_retry=unreachable,
            )
        except PermanentError as exc:
            raise _Poison(f"permanent handler error: {exc}", type(exc).__name__) from None
        except DATA_ERRORS as exc:
            raise _Poison(
                f"the database refused the event's data: {type(exc).__name__}: {exc}", type(exc).__name__
            ) from None
        except ValidationError as exc:
            raise _Poison(f"schema-invalid data: {describe(exc)}", "ValidationError") from None
        except msgspec.ValidationError as exc:  # a msgspec reader's (envelope.one_pass)
            raise _Poison(f"schema-invalid data: {describe_msgspec(exc)}", "ValidationError") from None

    async def _apply(self, event: Envelope) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await inbox.claim(conn, self.config.name, event):
                return False
            await self._handler(conn, event)
            return True

    async def _dead_letter(self, record: Record, poison: _Poison) -> bool:
        """Publish to the DLQ and wait for its acknowledgement; False when the runner stopped first (the
        record is then not done, and is redelivered). Kafka errors are retried with backoff until then:
        the offset must not move past a record that is neither applied nor dead-lettered."""
        reason = poison.reason[:1500]
        log.error("event dead-lettered", reason=reason, error_class=poison.error_class)

        def failed(exc: BaseException, attempt: int) -> None:
            self._metrics.retries.labels(record.topic, "dead_letter").inc()
            log.warning("dead-letter publish failed, retrying", error=type(exc).__name__, attempt=attempt)

        async def publish() -> None:
            await interruptible(
                self._stopping,
                dead_letter(
                    self._producer,
                    record,
                    consumer=self.config.name,
                    reason=reason,
                    error_class=poison.error_class,
                ),
            )

        try:
            await retry(
                publish,
                backoff=self.config.infra_backoff,
                retry_on=(KafkaError,),
                give_up=(Stopped,),
                stopping=self._stopping,
                until_stopped=True,
                on_retry=failed,
            )
        except Stopped:
            return False
        return True

    # -- offsets ---------------------------------------------------------------------------------------------

    async def _commit(self, only: Iterable[TopicPartition] | None = None) -> None:
        """Commit the remembered offsets (of `only`, or of every partition still assigned); an offset is
        forgotten only once a commit of it succeeded (a failed one is tried again at the next commit)."""
        if only is None:
            assigned = self._consumer.assignment()
            for tp in [tp for tp in self._done if tp not in assigned]:
                del self._done[tp]  # revoked: its next owner resumes from the last commit
            wanted = set(self._done)
        else:
            wanted = set(only)
        offsets = {tp: OffsetAndMetadata(off, "") for tp, off in self._done.items() if tp in wanted}
        if not offsets:
            return
        try:
            await self._commit_offsets(offsets)
        except KafkaError as exc:  # CommitFailedError included
            log.warning("offset commit failed, kept for the next commit", error=type(exc).__name__)
            return
        for tp, meta in offsets.items():
            if self._done.get(tp) == meta.offset:
                del self._done[tp]

    async def _commit_offsets(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        await self._consumer.commit(offsets)


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._runner._generation += 1  # batches fetched before now are fetched again (ConsumerRunner._after)
        await self._runner._commit(only=revoked)
        for tp in revoked:  # committed or not: the next owner resumes from the last commit (the inbox
            self._runner._done.pop(tp, None)  # absorbs what it re-reads); a later commit must not rewind it

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("partitions assigned", partitions=len(assigned))
