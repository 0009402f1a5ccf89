"""Consumer lag and dead-letter counts, sampled by the consumer that owns the partitions.

Every `interval` seconds a `LagSampler` sets, for the partitions assigned to its consumer right now:

    <svc>_consumer_lag_messages{group,topic,partition}   end offset - the group's committed offset
    <svc>_dlq_messages{topic}                           end - start offset of `<topic>.dlq` (consumed topics)

The committed offset is the group's (what Kafka's own tools report as lag), read through the runner's
consumer; end and start offsets come from a consumer of its own without a group, so asking about a DLQ
the runner does not subscribe to never touches the runner's subscription. A partition with nothing
committed yet counts from its start offset (the runner reads from the earliest). Partitions revoked
since the last sample are removed from the gauge, so a rebalance leaves no stale series behind. A failed
sample is logged and tried again at the next tick: lag is for watching, never a reason to stop consuming.
"""

import asyncio
import contextlib
from collections.abc import Iterable

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from ..pipeline_metrics import PipelineMetrics
from .topics import dlq_topic

log = structlog.get_logger(__name__)

SAMPLE_TIMEOUT_SECONDS = 10.0


class LagSampler:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        *,
        group: str,
        topics: Iterable[str],
        bootstrap_servers: str,
        metrics: PipelineMetrics,
    ) -> None:
        self._consumer, self._group, self._metrics = consumer, group, metrics
        self._dlqs = [dlq_topic(t) for t in topics]
        self._bootstrap_servers = bootstrap_servers
        self._probe_client: AIOKafkaConsumer | None = None  # started at the first sample
        self._exported: set[tuple[str, str]] = set()  # (topic, partition) series of the lag gauge

    async def sample(self) -> None:
        """One sample of every gauge; raises when Kafka does not answer within the timeout."""
        async with asyncio.timeout(SAMPLE_TIMEOUT_SECONDS):
            if self._probe_client is None:
                probe = AIOKafkaConsumer(
                    bootstrap_servers=self._bootstrap_servers,
                    group_id=None,
                    client_id=f"{self._group}-lag",
                    enable_auto_commit=False,
                )
                try:
                    await probe.start()
                except BaseException:
                    with contextlib.suppress(Exception):
                        await probe.stop()
                    raise
                self._probe_client = probe
            await self._sample_lag()
            await self._sample_dead_letters()

    @property
    def _probe(self) -> AIOKafkaConsumer:
        assert self._probe_client is not None
        return self._probe_client

    async def aclose(self) -> None:
        probe, self._probe_client = self._probe_client, None
        if probe is not None:
            with contextlib.suppress(Exception):
                await probe.stop()

    async def _sample_lag(self) -> None:
        assigned = sorted(self._consumer.assignment())
        ends = await self._probe.end_offsets(assigned) if assigned else {}
        committed = {tp: await self._consumer.committed(tp) for tp in assigned}
        never = [tp for tp, offset in committed.items() if offset is None]
        starts = await self._probe.beginning_offsets(never) if never else {}
        current: set[tuple[str, str]] = set()
        for tp in assigned:
            position = committed[tp]
            if position is None:
                position = starts[tp]
            series = (tp.topic, str(tp.partition))
            current.add(series)
            self._metrics.consumer_lag.labels(self._group, *series).set(max(ends[tp] - position, 0))
        for series in self._exported - current:
            with contextlib.suppress(KeyError):
                self._metrics.consumer_lag.remove(self._group, *series)
        self._exported = current

    async def _sample_dead_letters(self) -> None:
        partitions = [
            TopicPartition(topic, p)
            for topic in self._dlqs
            for p in sorted(self._probe.partitions_for_topic(topic) or {0})  # known after the first ask
        ]
        ends = await self._probe.end_offsets(partitions)
        starts = await self._probe.beginning_offsets(partitions)
        for topic in self._dlqs:
            held = sum(ends[tp] - starts[tp] for tp in partitions if tp.topic == topic)
            self._metrics.dlq_messages.labels(topic).set(held)
