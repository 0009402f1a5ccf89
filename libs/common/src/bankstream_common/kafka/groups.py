"""A consumer group seen from outside: its committed offsets, whether anyone is in it, moving its offsets;
and what its topics hold (end and start offsets, retention). For operators' tools (a projection rebuilt
into a fresh schema, then the live one corrected from it), never for a running consumer, which owns its
own offsets.

Offsets are read with `read_committed`, as every consumer here reads: the end of a partition is its last
stable offset. A group's offsets can be moved only while the group is empty: Kafka refuses a commit from
outside a group that has members.
"""

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import OffsetAndMetadata


@dataclass(frozen=True)
class TopicRetention:
    topic: str
    retention_ms: int  # -1: kept forever
    cleanup_policy: str  # delete | compact | compact,delete


class Groups:
    """`async with Groups(bootstrap) as kafka:` one admin client and one group-less consumer."""

    def __init__(self, bootstrap_servers: str, *, client_id: str = "bankstream-groups") -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id=client_id)
        self._probe = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            client_id=client_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        self._bootstrap_servers, self._client_id = bootstrap_servers, client_id

    async def __aenter__(self) -> Self:
        try:
            await self._admin.start()
            await self._probe.start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self._probe.stop()
        with contextlib.suppress(Exception):
            await self._admin.close()

    async def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        found = []
        for topic in topics:
            ids = self._probe.partitions_for_topic(topic)
            if ids is None:  # not in the cached metadata yet
                await self._probe._client.force_metadata_update()
                ids = self._probe.partitions_for_topic(topic)
            if not ids:
                raise LookupError(f"topic {topic} does not exist")
            found += [TopicPartition(topic, p) for p in sorted(ids)]
        return found

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        ends: dict[TopicPartition, int] = await self._probe.end_offsets(partitions)
        return ends

    async def start_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        starts: dict[TopicPartition, int] = await self._probe.beginning_offsets(partitions)
        return starts

    async def committed(
        self, group: str, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int | None]:
        """The group's committed offset of each partition (None: never committed)."""
        found = await self._admin.list_consumer_group_offsets(group, partitions=partitions)
        return {
            tp: (found[tp].offset if tp in found and found[tp].offset >= 0 else None) for tp in partitions
        }

    async def members(self, group: str) -> int:
        """How many consumers are in the group now (0: nobody consumes with it)."""
        described = await self._admin.describe_consumer_groups([group])
        return sum(len(g.members) for response in described for g in _groups(response))

    async def move(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit `offsets` as the group's, from outside it. Kafka refuses when the group has members."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            group_id=group,
            client_id=self._client_id,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            consumer.assign(list(offsets))
            await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
        finally:
            await consumer.stop()

    async def retention(self, topics: Iterable[str]) -> list[TopicRetention]:
        resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
        responses = await self._admin.describe_configs(resources)
        found = []
        for response in responses:
            for _code, _message, _type, name, entries in response.resources:
                config = {e[0]: e[1] for e in entries}
                found.append(
                    TopicRetention(
                        name, int(config.get("retention.ms") or -1), config.get("cleanup.policy") or "delete"
                    )
                )
        return found


@dataclass(frozen=True)
class _Group:
    members: list[object]


def _groups(response: object) -> list[_Group]:
    """The groups of a DescribeGroups response: (error, group, state, protocol type, protocol, members...)."""
    return [_Group(list(g[5])) for g in response.groups]  # type: ignore[attr-defined]
