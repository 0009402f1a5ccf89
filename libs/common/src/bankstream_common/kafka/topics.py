"""Topics are declared by the code that produces them and created at start-up when missing.

Each declared topic also gets its dead-letter topic `<name>.dlq` (one partition: order does not matter
there, and a person reads it), with Kafka's default `max.message.bytes` stated (dead_letter.py strips a
value larger than that allows).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = structlog.get_logger(__name__)

DLQ_SUFFIX = ".dlq"
DLQ_MAX_MESSAGE_BYTES = 1_048_588  # Kafka's default, stated


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 6
    config: Mapping[str, str] = field(default_factory=dict)
    dead_letter: bool = True

    def all_specs(self) -> list["TopicSpec"]:
        specs = [self]
        if self.dead_letter:
            specs.append(
                TopicSpec(
                    dlq_topic(self.name),
                    1,
                    {
                        "retention.ms": str(30 * 24 * 3600 * 1000),
                        "max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES),
                    },
                    False,
                )
            )
        return specs


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


async def ensure_topics(bootstrap_servers: str, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the declared topics (and their DLQs) that do not exist yet; returns the names created."""
    wanted = {s.name: s for spec in specs for s in spec.all_specs()}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for name, s in wanted.items() if name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(s.name, s.partitions, 1, topic_configs=dict(s.config)) for s in missing]
        )
        created = []
        for name, code, *_ in getattr(response, "topic_errors", getattr(response, "topic_error_codes", [])):
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:
                raise RuntimeError(f"could not create topic {name}: Kafka error code {code}")
        if created:
            log.info("topics created", topics=sorted(created))
        return created
    finally:
        await admin.close()
