"""sync-worker test fixtures: a fresh schema per test, fresh topics, a Kafka reader."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from bankstream_common.db import create_pool
from bankstream_common.migrations import migrate_service

Records = list[ConsumerRecord[bytes, bytes]]


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def schema(database_url: str, uid: str) -> str:
    name = f"sw_{uid}"
    await migrate_service(database_url, name, "sync_worker")
    return name


@pytest.fixture
async def pool(database_url: str, schema: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, schema=schema, max_size=8)
    yield p
    await p.close()


async def read_topic(
    bootstrap: str, topic: str, *, until: Callable[[Records], bool], timeout: float = 30.0
) -> Records:
    """Every record of `topic` from the beginning, reading until `until(records)` or the timeout."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    out: Records = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not until(out) and loop.time() < deadline:
            for recs in (await consumer.getmany(timeout_ms=200, max_records=5000)).values():
                out.extend(recs)
        for recs in (await consumer.getmany(timeout_ms=300)).values():
            out.extend(recs)
    finally:
        await consumer.stop()
    return out


@pytest.fixture
def reader(kafka_bootstrap_servers: str) -> Callable[..., Awaitable[Records]]:
    async def read(topic: str, *, until: Callable[[Records], bool], timeout: float = 30.0) -> Records:
        return await read_topic(kafka_bootstrap_servers, topic, until=until, timeout=timeout)

    return read
