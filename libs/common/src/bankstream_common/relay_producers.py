"""The relay's producers: one at a time, replaced by a fresh one after any failed send.

Why fresh: the producer is idempotent, so Kafka numbers each partition's batches. When the broker refuses
a batch for good (a record over the topic's `max.message.bytes`, say), the same producer's later batches
to that partition are refused too (out of sequence): it can no longer write there. And a partition the
broker holds no state of this producer for accepts the next batch anyway, after the gap, so records
handed over after the failed one could overtake it. The relay therefore, on any failed send: abandons
its in-flight units, aborts this producer (its queued batches are never sent), and starts again from the
lowest unacknowledged outbox row with a fresh producer, sending that unit one record at a time, each
acknowledged before the next, so that a record the broker refuses on its own is known.

A record the broker can never accept (a poison row) is dead-lettered to `<topic>.dlq` with the reason
(kafka/dead_letter.py: a value too large for the DLQ goes without it), counted in
`<svc>_outbox_dead_lettered_total`, and deleted with its unit: the stream goes on without it. Rows larger
than `max_record_bytes` are dead-lettered without being offered to the broker at all.
"""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)

from .kafka.dead_letter import Header, publish_dead_letter
from .kafka.producer import create_producer
from .kafka.topics import dlq_topic

log = structlog.get_logger(__name__)

ProducerFactory = Callable[[], AIOKafkaProducer]

# refused for what the record is, not for the state of the cluster: sent alone and refused, it is poison
POISON: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
)


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
            task = asyncio.create_task(_abort(producer))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        self.discard()
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=10.0)


async def _abort(producer: AIOKafkaProducer) -> None:
    """Stop a producer without sending what it still holds (aiokafka's `stop` would flush it first)."""
    sender: Any = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    if task is not None and not task.done():
        task.cancel()  # no batch is drained after this; the requests already on the wire finish
        await asyncio.gather(task, return_exceptions=True)
    accumulator: Any = getattr(producer, "_message_accumulator", None)
    if accumulator is not None:  # what it still holds fails (nobody waits for it), so `stop` returns
        accumulator.fail_all(KafkaError("producer discarded by the outbox relay"))
    try:
        await asyncio.wait_for(producer.stop(), 10.0)
    except Exception as exc:  # noqa: BLE001 - a producer being thrown away
        log.warning("discarded producer did not stop cleanly", error=type(exc).__name__)


def dead_letter_headers(
    event_headers: list[Header], *, topic: str, where: str, reason: str, error_class: str
) -> list[Header]:
    return [
        *event_headers,
        ("dlq.reason", reason.encode()[:2000]),
        ("dlq.error_class", error_class.encode()),
        ("dlq.producer", b"outbox-relay"),
        ("dlq.original_topic", topic.encode()),
        ("dlq.outbox_row", where.encode()),
        ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
    ]


async def dead_letter_row(
    producer: AIOKafkaProducer,
    *,
    topic: str,
    key: bytes,
    value: bytes,
    headers: list[Header],
    where: str,
    error: BaseException | str,
) -> None:
    """Set a poison row aside in `<topic>.dlq`, acknowledged, with why."""
    reason = error if isinstance(error, str) else f"refused by Kafka: {type(error).__name__}: {error}"
    error_class = "RecordTooLarge" if isinstance(error, str) else type(error).__name__
    log.error("outbox row dead-lettered", topic=topic, row=where, reason=reason[:300])
    all_headers = dead_letter_headers(
        headers, topic=topic, where=where, reason=reason, error_class=error_class
    )
    await publish_dead_letter(producer, dlq_topic(topic), key, value, all_headers)
