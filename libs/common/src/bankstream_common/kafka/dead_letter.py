"""Dead-lettering: a poison message goes to `<topic>.dlq` with why and where it came from.

The value travels byte for byte, unless it is larger than a dead-letter topic accepts
(`MAX_DEAD_LETTER_BYTES`, under Kafka's default `max.message.bytes`, which DLQ topics are created with):
then it goes with an empty value, with `dlq.payload: stripped` and `dlq.original_bytes`, and the reason all
the same (the original stays readable at its topic, partition and offset until retention). A dead letter
is never refused for its size, so a poison can always be set aside.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.structs import ConsumerRecord

from .topics import dlq_topic

Header = tuple[str, bytes]

# Kafka's default max.message.bytes is 1,048,588 for a whole record batch: leave room for key and headers
MAX_DEAD_LETTER_BYTES = 900 * 1024


def dead_letter_headers(
    record: ConsumerRecord[bytes, bytes], *, consumer: str, reason: str, error_class: str
) -> list[Header]:
    original = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq.")]
    return [
        *original,
        ("dlq.reason", reason.encode()[:2000]),
        ("dlq.error_class", error_class.encode()),
        ("dlq.consumer", consumer.encode()),
        ("dlq.original_topic", record.topic.encode()),
        ("dlq.original_partition", str(record.partition).encode()),
        ("dlq.original_offset", str(record.offset).encode()),
        ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
    ]


async def dead_letter(
    producer: AIOKafkaProducer,
    record: ConsumerRecord[bytes, bytes],
    *,
    consumer: str,
    reason: str,
    error_class: str,
) -> None:
    """Publish and wait for the acknowledgement: only then may the original's offset be committed."""
    headers = dead_letter_headers(record, consumer=consumer, reason=reason, error_class=error_class)
    await publish_dead_letter(producer, dlq_topic(record.topic), record.key, record.value, headers)


async def publish_dead_letter(
    producer: AIOKafkaProducer, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[Header]
) -> None:
    """Send one dead letter and wait for its acknowledgement, without its value if that is too large."""
    if value is not None and len(value) > MAX_DEAD_LETTER_BYTES:
        value, headers = b"", _stripped(value, headers)
    try:
        await producer.send_and_wait(topic, value=value, key=key, headers=list(headers))
    except MessageSizeTooLargeError:  # a DLQ topic configured with less than Kafka's default
        if not value:
            raise
        await producer.send_and_wait(topic, value=b"", key=key, headers=_stripped(value, headers))


def _stripped(value: bytes, headers: Sequence[Header]) -> list[Header]:
    return [*headers, ("dlq.payload", b"stripped"), ("dlq.original_bytes", str(len(value)).encode())]
