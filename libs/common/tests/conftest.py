"""Fixtures for the shared library's integration tests: a fresh schema and fresh topics per test."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from bankstream_common.db import create_pool
from bankstream_common.kafka.topics import TopicSpec, ensure_topics
from bankstream_common.migrations import migrate_service
from bankstream_common.pipeline_metrics import PipelineMetrics
from prometheus_client import CollectorRegistry


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def schema(database_url: str, uid: str) -> str:
    name = f"t_{uid}"
    await migrate_service(database_url, name, None)
    return name


@pytest.fixture
async def pool(database_url: str, schema: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, schema=schema, max_size=8)
    yield p
    await p.close()


@pytest.fixture
def metrics() -> PipelineMetrics:
    return PipelineMetrics("test", CollectorRegistry())


@pytest.fixture
async def topic(kafka_bootstrap_servers: str, uid: str) -> str:
    name = f"test.{uid}"
    await ensure_topics(kafka_bootstrap_servers, [TopicSpec(name, partitions=4)])
    return name


Records = list[ConsumerRecord[bytes, bytes]]


@pytest.fixture
def read_topic(kafka_bootstrap_servers: str) -> Callable[..., Awaitable[Records]]:
    async def read(topic: str, *, at_least: int, timeout: float = 30.0) -> Records:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        out: Records = []
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while len(out) < at_least and loop.time() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for recs in batch.values():
                    out.extend(recs)
            # anything beyond `at_least` that is already there (duplicates, say) counts too
            for recs in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(recs)
        finally:
            await consumer.stop()
        return out

    return read
