"""Dead-lettering: a poison message goes to `<topic>.dlq` with why and where it came from.

The record travels byte for byte (key, value, headers), unless it is larger than a dead-letter topic accepts
(`MAX_DEAD_LETTER_BYTES`, under Kafka's default `max.message.bytes`, which DLQ topics are created with, or
refused by the broker for its size): then it goes with an empty value, with `dlq.payload: stripped` and
`dlq.original_bytes`, and if that is still too large also without its key and its original headers
(`dlq.original_key_bytes`, `dlq.original_headers_bytes`); the dlq.* headers (the reason, where from) always
go. The original stays readable at its topic, partition and offset until retention. A dead letter is never
refused for its size, so a poison can always be set aside.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.structs import ConsumerRecord

from .topics import dlq_topic

Header = tuple[str, bytes]
Letter = tuple[bytes | None, bytes | None, list[Header]]  # key, value, headers

# Kafka's default max.message.bytes is 1,048,588 for a whole record batch: leave room for its framing
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
    """Send one dead letter and wait for its acknowledgement: the first of its forms (`_forms`) that fits,
    a smaller one when the broker refuses it for its size (a DLQ topic configured with less than Kafka's
    default)."""
    forms = _forms(key, value, headers)
    forms = [form for form in forms if _size(*form) <= MAX_DEAD_LETTER_BYTES] or forms[-1:]
    for i, (k, v, h) in enumerate(forms):
        try:
            await producer.send_and_wait(topic, value=v, key=k, headers=h)
            return
        except MessageSizeTooLargeError:
            if i == len(forms) - 1:
                raise


def _forms(key: bytes | None, value: bytes | None, headers: Sequence[Header]) -> list[Letter]:
    """The dead letter as it is, then without its value, then also without its key and original headers."""
    stripped = [*headers, ("dlq.payload", b"stripped"), ("dlq.original_bytes", _length(value))]
    original = [(k, v) for k, v in headers if not k.startswith("dlq.")]
    bare = [
        *((k, v) for k, v in stripped if k.startswith("dlq.")),
        ("dlq.original_key_bytes", _length(key)),
        ("dlq.original_headers_bytes", str(_size(None, None, original)).encode()),
    ]
    return [(key, value, list(headers)), (key, b"", stripped), (None, b"", bare)]


def _size(key: bytes | None, value: bytes | None, headers: Sequence[Header]) -> int:
    return len(key or b"") + len(value or b"") + sum(len(k) + len(v or b"") for k, v in headers)


def _length(data: bytes | None) -> bytes:
    return str(len(data or b"")).encode()
