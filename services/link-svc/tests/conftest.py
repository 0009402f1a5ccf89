"""link-svc test fixtures: a freshly migrated schema per test (isolation by name, never by sleeping)."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from bankstream_common.db import create_pool
from bankstream_common.migrations import migrate_service


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
