"""link-svc test fixtures: a freshly migrated schema per test (isolation by name, never by sleeping)."""

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from bankstream_common.db import create_pool
from bankstream_common.migrations import migrate_service
from plaid_emulator.testing import RunningEmulator, running_emulator

from .harness import LinkService, running_link_service


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def schema(database_url: str, uid: str) -> str:
    name = f"link_t_{uid}"
    await migrate_service(database_url, name, "link_svc")
    return name


@pytest.fixture
async def pool(database_url: str, schema: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, schema=schema, max_size=10)
    yield p
    await p.close()


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    """One Plaid emulator per test module (webhook retries scaled down to milliseconds)."""
    with running_emulator(webhook_time_scale=0.001, not_ready_delay=0, historical_delay=0) as running:
        yield running


@pytest.fixture
async def svc(
    database_url: str, kafka_bootstrap_servers: str, emu: RunningEmulator
) -> AsyncIterator[LinkService]:
    async with running_link_service(database_url, kafka_bootstrap_servers, emu) as service:
        yield service
