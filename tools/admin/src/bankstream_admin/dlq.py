"""Dead letters: read a `<topic>.dlq`, choose records by reason or event type, replay them to their topic.

A dead letter carries its original record's key, value and headers, plus `dlq.*` headers saying why and
from where (libs/common kafka/dead_letter.py). Replaying produces key, value and the original headers
(the `dlq.*` ones dropped) to `dlq.original_topic`, with an idempotent producer, waiting for every
acknowledgement. Replaying is idempotent where it matters: consumers claim each event id in their inbox
(35 days), so an event replayed twice, or replayed after it was applied, applies once. A record whose
value was stripped (larger than a DLQ accepts) cannot be replayed from the DLQ and is reported, not sent.
"""

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from bankstream_common.kafka.producer import create_producer


@dataclass
class DeadLetter:
    offset: int
    partition: int
    key: str | None
    original_topic: str
    original_partition: str
    original_offset: str
    reason: str
    error_class: str
    consumer: str
    failed_at: str
    event_type: str
    event_id: str
    stripped: bool
    value: bytes = field(repr=False)
    headers: list[tuple[str, bytes]] = field(repr=False)

    def summary(self) -> dict[str, object]:
        out = asdict(self)
        del out["value"], out["headers"]
        return out

    def matches(self, *, reason: str | None, event_type: str | None) -> bool:
        return (reason is None or reason.lower() in self.reason.lower()) and (
            event_type is None or event_type == self.event_type
        )


def _dead_letter(partition: int, offset: int, key: bytes | None, value: bytes | None, headers) -> DeadLetter:  # type: ignore[no-untyped-def]
    h = {k: v.decode(errors="replace") for k, v in headers or ()}
    event_type, event_id = h.get("ce_type", ""), h.get("ce_id", "")
    if value and not (event_type and event_id):
        try:  # the envelope itself says what it is
            body = json.loads(value)
            event_type, event_id = (
                event_type or str(body.get("type", "")),
                event_id or str(body.get("id", "")),
            )
        except (ValueError, AttributeError):
            pass
    return DeadLetter(
        offset=offset,
        partition=partition,
        key=key.decode(errors="replace") if key is not None else None,
        original_topic=h.get("dlq.original_topic", ""),
        original_partition=h.get("dlq.original_partition", ""),
        original_offset=h.get("dlq.original_offset", h.get("dlq.outbox_row", "")),
        reason=h.get("dlq.reason", ""),
        error_class=h.get("dlq.error_class", ""),
        consumer=h.get("dlq.consumer", h.get("dlq.producer", "")),
        failed_at=h.get("dlq.failed_at", ""),
        event_type=event_type,
        event_id=event_id,
        stripped=h.get("dlq.payload") == "stripped",
        value=value or b"",
        headers=[(k, v) for k, v in headers or () if not k.startswith("dlq.")],
    )


async def read_dead_letters(bootstrap_servers: str, topic: str) -> list[DeadLetter]:
    """Every record the DLQ holds now, from its start to its end offset at the time of asking."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="bankstream-admin",
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(await _partitions(consumer, topic))]
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:  # an explicit seek: seek_to_beginning can race the assignment's own reset
            consumer.seek(tp, starts[tp])
        out: list[DeadLetter] = []
        remaining = {tp for tp in partitions if ends[tp] > starts[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < ends[tp]:
                        out.append(_dead_letter(tp.partition, r.offset, r.key, r.value, r.headers))
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return sorted(out, key=lambda d: (d.partition, d.offset))
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    if topic not in await consumer.topics():
        raise LookupError(f"no topic {topic!r}")
    return consumer.partitions_for_topic(topic) or {0}


@dataclass
class ReplayReport:
    replayed: list[DeadLetter]
    skipped_stripped: list[DeadLetter]


async def replay(
    bootstrap_servers: str,
    letters: list[DeadLetter],
    *,
    dry_run: bool,
    on_sent: Callable[[DeadLetter], None] = lambda _: None,
    producer: AIOKafkaProducer | None = None,
) -> ReplayReport:
    """Produce each letter back to its original topic (not in a dry run); stripped ones are skipped."""
    sendable = [d for d in letters if not d.stripped and d.original_topic]
    report = ReplayReport(replayed=sendable, skipped_stripped=[d for d in letters if d not in sendable])
    if dry_run or not sendable:
        return report
    own = producer is None
    producer = producer or create_producer(bootstrap_servers, client_id="bankstream-admin-replay")
    if own:
        await producer.start()
    try:
        for letter in sendable:
            key = letter.key.encode() if letter.key is not None else None
            await producer.send_and_wait(
                letter.original_topic, value=letter.value, key=key, headers=letter.headers
            )
            on_sent(letter)
    finally:
        if own:
            await producer.stop()
    return report
