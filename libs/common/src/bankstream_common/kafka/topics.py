"""Topics are declared by the code that produces them and created at start-up when missing.

Each declared topic also gets its dead-letter topic `<name>.dlq` (one partition: order does not matter
there, and a person reads it), with Kafka's default `max.message.bytes` stated (dead_letter.py strips a
value larger than that allows).

`ensure_topics` returns once the broker's metadata shows every topic it created with a leader for each
partition: Kafka accepts a creation before its metadata has it, and a consumer that subscribes in that
moment leaves the topic out until its next metadata refresh (5 minutes by default), consuming nothing.
"""

import asyncio
import time
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
            await _until_visible(admin, {name: wanted[name].partitions for name in created})
        return created
    finally:
        await admin.close()


async def _until_visible(
    admin: AIOKafkaAdminClient, partitions: dict[str, int], within: float = 30.0
) -> None:
    deadline = time.monotonic() + within
    while True:
        led = {
            t["topic"]
            for t in await admin.describe_topics(list(partitions))
            if t["error_code"] == 0
            and sum(1 for p in t["partitions"] if p["leader"] >= 0) >= partitions.get(t["topic"], 1)
        }
        missing = set(partitions) - led
        if not missing:
            return
        if time.monotonic() > deadline:
            log.warning("created topics not yet in the metadata", topics=sorted(missing))
            return
        await asyncio.sleep(0.05)
