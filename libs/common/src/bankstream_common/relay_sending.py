"""How the relay hands a unit to Kafka, and its producers: one at a time, a fresh one after any failure.

Why fresh: the producer is idempotent, so Kafka numbers each partition's batches. When the broker refuses
a batch for good (a record over the topic's `max.message.bytes`, say), the same producer's later batches
to that partition are refused too (out of sequence): it can no longer write there. And a partition the
broker holds no state of this producer for accepts the next batch anyway, after the gap, so records
handed over after the failed one could overtake it. The relay therefore, on any failed send: abandons
its in-flight units, aborts this producer (its queued batches are never sent), and starts again from the
lowest unacknowledged outbox row with a fresh producer, sending that unit one record at a time, each
acknowledged before the next, so that a record the broker refuses on its own is known. And a producer's
first record to a partition (first since it started, or for an hour) goes alone and is acknowledged
before anything else is handed to that partition: once the broker keeps this producer's state there, a
refused batch makes every later one of that partition refused too, so nothing overtakes what failed.
(The relay computes each record's partition with the producer's partitioner to know which is which.)
A warm partition's records go in record batches the relay fills itself (`Batches`, ADR 0021).

A record the broker can never accept (a poison row) is dead-lettered to `<topic>.dlq` with the reason
(kafka/dead_letter.py: a value too large for the DLQ goes without it), counted in
`<svc>_outbox_dead_lettered_total`, and deleted with its unit: the stream goes on without it. Rows larger
than `max_record_bytes` are dead-lettered without being offered to the broker at all.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)

from .kafka.dead_letter import Header, publish_dead_letter
from .kafka.producer import create_producer, partition_for
from .kafka.topics import dlq_topic
from .outbox import record_headers
from .pipeline_metrics import PipelineMetrics

log = structlog.get_logger(__name__)

ProducerFactory = Callable[[], AIOKafkaProducer]

WARM_FOR = 3600.0  # seconds a partition counts as known to the broker after this producer last wrote there

# refused for what the record is, not for the state of the cluster: sent alone and refused, it is poison
POISON: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
)


class RelaySender:
    """Hands units to Kafka for the relay. `check()` runs before each hand-over (the relay proves its lock
    is held); `failed()` after any failure: this producer is done for, the next unit goes carefully."""

    def __init__(
        self,
        producers: "RelayProducers",
        metrics: PipelineMetrics,
        *,
        max_record_bytes: int,
        check: Callable[[], Awaitable[None]],
    ) -> None:
        self._producers, self._metrics, self._max, self._check = producers, metrics, max_record_bytes, check
        self.careful = False  # the next unit goes one acknowledged record at a time
        self._warm_producer: AIOKafkaProducer | None = None
        self._warm_since: dict[tuple[str, int], float] = {}  # partitions it has written to, and when

    def failed(self) -> None:
        self._producers.discard()
        self.careful = True

    async def close(self) -> None:
        await self._producers.close()

    async def send(self, rows: list[asyncpg.Record]) -> asyncio.Future[list[object]]:
        """Hand a unit over; a future of its acknowledgements (one per row not dead-lettered). A warm
        partition's records go in batches the relay fills itself (`Batches`), in the unit's order. Per
        row, only what differs is computed: a topic's partitions are asked for once, a key's hash is
        memoised (`partition_for`), and a unit's rows share a few header lists (`_Headers`)."""
        if self.careful:
            return await self._send_carefully(rows)
        await self._check()
        producer = await self._producers.current()
        batches = Batches(producer)
        partitions: dict[str, list[int]] = {}
        headers_of = _Headers()
        for r in rows:
            topic, key, payload = r["topic"], r["key"].encode(), r["payload"]
            headers, header_bytes = headers_of(r)
            if len(payload) + len(key) + header_bytes > self._max:
                await self._dead_letter(producer, r, key, headers, "larger than the relay's max_record_bytes")
                continue
            known = partitions.get(topic)  # asked once per unit: no await for the rows after the first
            if known is None:
                partition = await _partition(producer, topic, key, partitions)
            else:
                partition = partition_for(key, known, known)
            # a partition with a batch open in this unit stays warm until the unit ends: a record sent
            # alone now would overtake the open batch's earlier records
            if batches.append(topic, partition, key, payload, headers):
                continue
            if batches.open(topic, partition) or self._warm(producer, topic, partition):
                await batches.add(topic, partition, key, payload, headers)
            else:  # its first record goes alone: see the module's docstring
                meta = await producer.send_and_wait(
                    topic, payload, key=key, partition=partition, headers=headers
                )
                self._warmed(producer, topic, partition)
                batches.acknowledged(meta)
        return await batches.submit()

    async def _send_carefully(self, rows: list[asyncpg.Record]) -> asyncio.Future[list[object]]:
        """One record at a time, each acknowledged before the next: a record refused alone is poison."""
        acked: list[object] = []
        for r in rows:
            await self._check()
            key, headers = r["key"].encode(), record_headers(r["event_type"], r.get("headers", "[]"))
            producer = await self._producers.current()
            if len(r["payload"]) + len(key) + _size(headers) > self._max:
                await self._dead_letter(producer, r, key, headers, "larger than the relay's max_record_bytes")
                continue
            try:
                partition = await _partition(producer, r["topic"], key, {})
                meta = await producer.send_and_wait(
                    r["topic"], r["payload"], key=key, partition=partition, headers=headers
                )
            except POISON as exc:
                self._producers.discard()  # it can no longer write to that partition
                await self._dead_letter(await self._producers.current(), r, key, headers, exc)
                continue
            self._warmed(producer, meta.topic, meta.partition)
            acked.append(meta)
        self.careful = False
        return _done(acked)

    def _warm(self, producer: AIOKafkaProducer, topic: str, partition: int) -> bool:
        """Has Kafka acknowledged a record of this producer on this partition (recently enough that the
        broker still keeps its state: `producer.id.expiration.ms` is a day by default)?"""
        if self._warm_producer is not producer:
            return False
        at = self._warm_since.get((topic, partition))
        return at is not None and time.monotonic() - at < WARM_FOR

    def _warmed(self, producer: AIOKafkaProducer, topic: str, partition: int) -> None:
        if self._warm_producer is not producer:
            self._warm_producer, self._warm_since = producer, {}
        self._warm_since[(topic, partition)] = time.monotonic()

    async def _dead_letter(
        self,
        producer: AIOKafkaProducer,
        row: asyncpg.Record,
        key: bytes,
        headers: list[Header],
        error: object,
    ) -> None:
        seq = row.get("seq")
        where = f"position {row['position']}" if seq is None else f"batch {row['batch_id']} seq {seq}"
        reason = error if isinstance(error, str) else f"refused by Kafka: {type(error).__name__}: {error}"
        error_class = "RecordTooLarge" if isinstance(error, str) else type(error).__name__
        log.error("outbox row dead-lettered", topic=row["topic"], row=where, reason=reason[:300])
        all_headers = [
            *headers,
            ("dlq.reason", reason.encode()[:2000]),
            ("dlq.error_class", error_class.encode()),
            ("dlq.producer", b"outbox-relay"),
            ("dlq.original_topic", row["topic"].encode()),
            ("dlq.outbox_row", where.encode()),
            ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        await publish_dead_letter(producer, dlq_topic(row["topic"]), key, row["payload"], all_headers)
        self._metrics.outbox_dead_lettered.labels(row["topic"]).inc()


class Batches:
    """A unit's records for warm partitions, in record batches the relay fills itself and hands to the
    producer whole (`send_batch`): one future per batch, not per record. Handing records over one by one
    (`send`) cost ~15 us of CPU each, in batches ~4 (aiokafka 0.14). A partition's records stay
    in the unit's order: its batches go to the producer in the order they were filled, and the producer
    sends a partition's batches in that order. A record too large for an empty batch still goes, alone
    (the relay has already refused records over `max_record_bytes`)."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._open: dict[tuple[str, int], tuple[Any, int]] = {}  # (topic, partition) -> (builder, records)
        self._sent: list[tuple[asyncio.Future[Any], int]] = []  # each batch's future and its records

    async def add(
        self, topic: str, partition: int, key: bytes | None, value: bytes, headers: list[Header]
    ) -> None:
        entry = self._open.get((topic, partition))
        if entry is not None:
            builder, count = entry
            if builder.append(key=key, value=value, timestamp=None, headers=headers) is not None:
                self._open[(topic, partition)] = (builder, count + 1)
                return
            await self._hand_over(topic, partition, builder, count)  # full: the next one
        builder = self._producer.create_batch()
        builder.append(key=key, value=value, timestamp=None, headers=headers)  # an empty batch takes any
        self._open[(topic, partition)] = (builder, 1)

    def append(
        self, topic: str, partition: int, key: bytes | None, value: bytes, headers: list[Header]
    ) -> bool:
        """Add the record to the partition's open batch if there is one and it has room (no await: the
        common case); False when the caller must decide (`add`, or a record sent alone)."""
        entry = self._open.get((topic, partition))
        if entry is None:
            return False
        builder, count = entry
        if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
            return False
        self._open[(topic, partition)] = (builder, count + 1)
        return True

    def open(self, topic: str, partition: int) -> bool:
        """Does this unit hold records for the partition not yet handed over?"""
        return (topic, partition) in self._open

    def acknowledged(self, meta: object) -> None:
        """A record already sent and acknowledged on its own."""
        self._sent.append((_done(meta), 1))

    async def submit(self) -> "asyncio.Future[list[object]]":
        """Hand over what is still open; a future of one acknowledgement per record. Cancelling it
        cancels the wait on every batch (the relay abandons a unit so), as a gather would."""
        for (topic, partition), (builder, count) in self._open.items():
            await self._hand_over(topic, partition, builder, count)
        self._open = {}
        return _per_record(self._sent)

    async def _hand_over(self, topic: str, partition: int, builder: Any, count: int) -> None:
        self._sent.append((await self._producer.send_batch(builder, topic, partition=partition), count))


def _per_record(sent: list[tuple["asyncio.Future[Any]", int]]) -> "asyncio.Future[list[object]]":
    """Each batch's acknowledgement once per record it holds (the relay counts records per topic), as
    a future chained to a gather built now: nothing is left unawaited when the unit is abandoned."""
    gathered = asyncio.gather(*(future for future, _ in sent))
    result: asyncio.Future[list[object]] = asyncio.get_running_loop().create_future()

    def settle(done: "asyncio.Future[list[Any]]") -> None:
        failure = None if done.cancelled() else done.exception()  # read whatever becomes of `result`
        if result.done():
            return
        if done.cancelled():
            result.cancel()
        elif failure is not None:
            result.set_exception(failure)
        else:
            result.set_result(
                [meta for meta, (_, n) in zip(done.result(), sent, strict=True) for _ in range(n)]
            )

    gathered.add_done_callback(settle)
    result.add_done_callback(lambda r: gathered.cancel() if r.cancelled() else None)
    return result


class _Headers:
    """A unit's record headers, built once per (event type, stored headers) and shared by its rows,
    with their size in bytes (nearly every row of a unit has the same few)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], tuple[list[Header], int]] = {}

    def __call__(self, row: asyncpg.Record) -> tuple[list[Header], int]:
        event_type, stored = row["event_type"], row.get("headers", "[]")
        if not isinstance(stored, str):  # decoded already: not worth a key
            headers = record_headers(event_type, stored)
            return headers, _size(headers)
        found = self._known.get((event_type, stored))
        if found is None:
            headers = record_headers(event_type, stored)
            found = self._known[(event_type, stored)] = (headers, _size(headers))
        return found


def _size(headers: list[Header]) -> int:
    return sum(len(k) + len(v) for k, v in headers)


async def _partition(producer: AIOKafkaProducer, topic: str, key: bytes, known: dict[str, list[int]]) -> int:
    """The partition the producer's own partitioner would choose (the relay passes it explicitly)."""
    if topic not in known:
        known[topic] = sorted(await producer.partitions_for(topic))
    return partition_for(key, known[topic], known[topic])


def _done(result: Any) -> "asyncio.Future[Any]":
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    done.set_result(result)
    return done


def producer_like(shared: AIOKafkaProducer, suffix: str = "-relay") -> ProducerFactory:
    """Fresh producers configured as `create_producer` does, on the cluster `shared` talks to."""
    client: Any = shared.client
    servers, client_id = client._bootstrap_servers, client._client_id

    def new() -> AIOKafkaProducer:
        return create_producer(servers, client_id=f"{client_id}{suffix}")

    return new


class RelayProducers:
    """The producer the relay sends with now. `shared` (a started producer the service also uses) is used
    until the first failure, then the relay's own ones (`new`, or producers like `shared`); the relay's
    own are started here and stopped by `discard` (aborted: nothing queued is sent) and `close`."""

    def __init__(self, shared: AIOKafkaProducer | None, new: ProducerFactory | None) -> None:
        if shared is None and new is None:
            raise ValueError("the relay needs a producer or a producer factory")
        self._shared, self._new = shared, new
        self._current: AIOKafkaProducer | None = shared
        self._owned = False
        self._closing: set[asyncio.Task[None]] = set()

    async def current(self) -> AIOKafkaProducer:
        if self._current is None:
            if self._new is None:
                assert self._shared is not None
                self._new = producer_like(self._shared)
            producer = self._new()
            await producer.start()
            self._current, self._owned = producer, True
        return self._current

    def discard(self) -> None:
        """Stop sending with this producer; the next `current()` is a fresh one."""
        producer, owned, self._current = self._current, self._owned, None
        if producer is not None and owned:
            sender_task = getattr(getattr(producer, "_sender", None), "sender_task", None)
            if sender_task is not None:
                sender_task.cancel()  # now, before it can drain another batch; see _abort
            task = asyncio.create_task(_abort(producer))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        self.discard()
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=10.0)


async def _abort(producer: AIOKafkaProducer) -> None:
    """Stop a producer without sending what it still holds (aiokafka's `stop` would flush it first).

    Reaches into aiokafka (0.14, pinned by uv.lock): its sender task is cancelled, so no batch is drained
    after this (the requests already on the wire finish), and what its accumulator still holds fails."""
    sender: Any = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    accumulator: Any = getattr(producer, "_message_accumulator", None)
    if accumulator is not None:  # what it still holds fails (nobody waits for it), so `stop` returns
        accumulator.fail_all(KafkaError("producer discarded by the outbox relay"))
    try:
        await asyncio.wait_for(producer.stop(), 10.0)
    except Exception as exc:  # noqa: BLE001 - a producer being thrown away
        log.warning("discarded producer did not stop cleanly", error=type(exc).__name__)
