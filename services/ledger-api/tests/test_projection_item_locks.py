"""The race between an Item's ItemLinked and its first transactions, on the real database: the projection
of ItemLinked waits for a transaction batch that holds the Item's lock, so it sees (and owns) the rows
that batch wrote without a user."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from bankstream_common.db import create_pool
from bankstream_common.inbox import claim_many
from bankstream_common.migrations import migrate_service
from ledger_api.handlers.projections import Projections
from ledger_api.metrics import Metrics
from prometheus_client import CollectorRegistry

from .projection_harness import categorized, item_linked, plaid_transaction

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    schema = f"ledger_t_{uuid.uuid4().hex[:10]}"
    await migrate_service(database_url, schema, "ledger_api")
    p = await create_pool(database_url, schema=schema, max_size=4)
    yield p
    await p.close()


async def test_item_linked_waits_for_a_transaction_batch_of_its_item_and_then_owns_its_rows(
    pool: asyncpg.Pool,
) -> None:
    project = Projections(Metrics(CollectorRegistry()))
    item, acct, user = "item-race", "acct-race", "user-race"
    tx = categorized("added", plaid_transaction("tx-race", acct), item_id=item, user_id=None, version=1)
    linked = item_linked(item, user, [acct])

    async with pool.acquire() as first:
        batch = first.transaction()
        await batch.start()
        await claim_many(first, "ledger", [tx])
        await project(first, [tx])  # reads "Item unknown", writes the row without a user, holds the lock

        async def link() -> None:
            async with pool.acquire() as second, second.transaction():
                await claim_many(second, "ledger", [linked])
                await project(second, [linked])

        linking = asyncio.create_task(link())
        # ItemLinked's projection is blocked on the Item's lock (a fact in pg_stat_activity, not a delay)
        waited = False
        for _ in range(200):
            waited = await pool.fetchval(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND wait_event = 'advisory' AND pid <> pg_backend_pid() "
                "AND application_name = current_setting('application_name')"  # this test's pool only
            )
            if waited or linking.done():
                break
            await asyncio.sleep(0.02)
        assert not linking.done(), "ItemLinked was projected while a batch of its Item was uncommitted"
        assert waited
        await batch.commit()
        await linking

    owners = await pool.fetch("SELECT DISTINCT user_id FROM transactions WHERE item_id = $1", item)
    assert [o["user_id"] for o in owners] == [user]
    owners = await pool.fetch("SELECT DISTINCT user_id FROM changes WHERE item_id = $1", item)
    assert [o["user_id"] for o in owners] == [user]
