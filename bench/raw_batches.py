"""The raw loops' way to publish: records handed to the producer in record batches filled per partition,
as the outbox relay sends them (bankstream_common.relay_sending.Batches, ADR 0021). One `send()` per
record costs several times the CPU, so a raw loop of those would not be the client's limit."""

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from bankstream_common.kafka.dead_letter import Header
from bankstream_common.kafka.producer import partition_for
from bankstream_common.relay_sending import Batches


async def in_batches(
    producer: AIOKafkaProducer, topic: str, records: Iterable[tuple[bytes | None, bytes, list[Header]]]
) -> "asyncio.Future[list[object]]":
    """Hands every (key, value, headers) over; a future of their acknowledgements."""
    partitions = sorted(await producer.partitions_for(topic))
    batches = Batches(producer)
    for key, value, headers in records:
        await batches.add(topic, partition_for(key, partitions, partitions), key, value, headers)
    return await batches.submit()
