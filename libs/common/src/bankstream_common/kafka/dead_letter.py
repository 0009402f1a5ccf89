"""Dead-lettering: a poison message goes to `<topic>.dlq`, byte for byte, with why and where it came from."""

from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from .topics import dlq_topic

Header = tuple[str, bytes]


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
    await producer.send_and_wait(
        dlq_topic(record.topic),
        value=record.value,
        key=record.key,
        headers=dead_letter_headers(record, consumer=consumer, reason=reason, error_class=error_class),
    )
