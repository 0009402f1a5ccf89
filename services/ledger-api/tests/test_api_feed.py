"""GET /v1/changes, GET /v1/stream and POST /v1/items/{id}/refresh against the real database and broker:
the feed resumes from its cursor, never serves a row behind a cursor already handed out (a transaction
still open holds the feed back), SSE resumes with Last-Event-ID and ends on shutdown, refresh throttles."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from ledger_api.adapters import item_store
from ledger_api.domain import events as ev

from .api_harness import (
    LedgerApi,
    add_change,
    add_item,
    bearer,
    read_events,
    running_ledger_api,
    seed_alice_and_bob,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(database_url: str, kafka_bootstrap_servers: str) -> AsyncIterator[LedgerApi]:
    async with running_ledger_api(
        database_url, kafka_bootstrap_servers, stream_poll_seconds=0.05, refresh_interval_seconds=60
    ) as running:
        await seed_alice_and_bob(running.pool)
        yield running


async def feed(api: LedgerApi, cursor: str | None = None, limit: int = 100, user: str = "alice") -> dict:
    params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
    r = await api.get("/v1/changes", user, params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def drain(
    api: LedgerApi, cursor: str | None, expect: int, user: str = "alice"
) -> tuple[list[str], str]:
    """Follow the feed until `expect` changes came (the feed may lag behind transactions still open)."""
    got: list[str] = []

    async def more() -> bool:
        nonlocal cursor
        page = await feed(api, cursor, limit=3, user=user)
        got.extend(c["entity_id"] for c in page["changes"])
        cursor = page["next_cursor"]
        return len(got) >= expect

    await wait_until(more, timeout=20)
    assert cursor is not None
    return got, cursor


async def test_the_feed_resumes_from_its_cursor_and_shows_only_the_users_changes(api: LedgerApi) -> None:
    for i in range(5):
        await add_change(api.pool, f"t-{i}")
    await add_change(api.pool, "t-bob", user_id="bob")
    got, cursor = await drain(api, None, 5)
    assert got == [f"t-{i}" for i in range(5)]
    assert (await feed(api, cursor))["changes"] == []
    assert (await feed(api, cursor))["next_cursor"] == cursor  # an empty page keeps the position

    for i in range(5, 8):
        await add_change(api.pool, f"t-{i}")
    resumed, _ = await drain(api, cursor, 3)
    assert resumed == ["t-5", "t-6", "t-7"]
    bob, _ = await drain(api, None, 1, user="bob")
    assert bob == ["t-bob"]


async def test_changes_projected_before_their_item_was_known_reach_a_reader_already_past_them(
    api: LedgerApi,
) -> None:
    await api.pool.execute(
        """INSERT INTO changes (user_id, item_id, entity, entity_id, op, version, data)
           VALUES (NULL, 'item-late', 'transaction', 't-early', 'added', 1, '{}'::jsonb)"""
    )
    await add_change(api.pool, "t-0")
    got, cursor = await drain(api, None, 1)
    assert got == ["t-0"]  # the early change has no user yet: in nobody's feed
    async with api.pool.acquire() as conn, conn.transaction():
        await item_store.claim_rows_for_user(conn, "item-late", "alice")  # its ItemLinked arrives
    late, _ = await drain(api, cursor, 1)
    assert late == ["t-early"]


async def test_an_open_transaction_holds_the_feed_back_so_nothing_lands_behind_a_cursor(
    api: LedgerApi, database_url: str
) -> None:
    await add_change(api.pool, "t-before")
    _, cursor = await drain(api, None, 1)

    slow = await asyncpg.connect(
        database_url, server_settings={"search_path": api.container.settings.schema_name}
    )
    try:
        writing = slow.transaction()
        await writing.start()
        await add_change(slow, "t-slow")  # takes its txid now, commits last
        await add_change(api.pool, "t-fast")  # a later txid, committed at once
        page = await feed(api, cursor)
        assert page["changes"] == [], "a change committed after an open transaction was served before it"
        await writing.commit()
    finally:
        await slow.close()
    got, _ = await drain(api, cursor, 2)
    assert got == ["t-slow", "t-fast"]  # commit order is txid order: the slow one first, never skipped


async def sse_events(api: LedgerApi, count: int, last_event_id: str | None = None) -> list[dict[str, str]]:
    headers = {**bearer("alice"), **({"Last-Event-ID": last_event_id} if last_event_id else {})}
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async with api.http.stream("GET", "/v1/stream", headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if not line:
                if "data" in current:
                    events.append(current)
                current = {}
                if len(events) >= count:
                    break
                continue
            field, _, value = line.partition(": ")
            current[field] = value
    return events


async def test_sse_streams_changes_and_resumes_with_last_event_id(api: LedgerApi) -> None:
    for i in range(3):
        await add_change(api.pool, f"t-{i}")
    first = await asyncio.wait_for(sse_events(api, 3), 20)
    assert [json.loads(e["data"])["entity_id"] for e in first] == ["t-0", "t-1", "t-2"]
    assert all(e["event"] == "change" for e in first)

    for i in range(3, 5):
        await add_change(api.pool, f"t-{i}")
    resumed = await asyncio.wait_for(sse_events(api, 2, last_event_id=first[-1]["id"]), 20)
    assert [json.loads(e["data"])["entity_id"] for e in resumed] == ["t-3", "t-4"]

    bad = await api.get("/v1/stream", headers={"Last-Event-ID": "garbage"})
    assert bad.status_code == 400


async def test_an_open_stream_ends_cleanly_when_the_service_stops(api: LedgerApi) -> None:
    async with api.http.stream("GET", "/v1/stream", headers=bearer("alice")) as r:
        assert r.status_code == 200
        lines = r.aiter_lines()
        assert (await anext(lines)).startswith("retry:")
        api.container.streams.stop()
        rest = await asyncio.wait_for(_read_all(lines), 5)  # ends: no hang until the grace period
    assert rest == [""]
    assert api.container.deps.open_streams == 0


async def _read_all(lines: AsyncIterator[str]) -> list[str]:
    return [line async for line in lines]


async def test_refresh_publishes_sync_requested_and_is_rate_limited_per_item(
    api: LedgerApi, kafka_bootstrap_servers: str
) -> None:
    await add_item(api.pool, "item-gone", "alice", removed=True)
    r = await api.http.post("/v1/items/item-a/refresh", headers=bearer("alice"))
    assert r.status_code == 202, r.text
    event_id = r.json()["event_id"]
    again = await api.http.post("/v1/items/item-a/refresh", headers=bearer("alice"))
    assert again.status_code == 429
    assert 1 <= int(again.headers["retry-after"]) <= 60
    assert (await api.http.post("/v1/items/item-b/refresh", headers=bearer("alice"))).status_code == 404
    assert (await api.http.post("/v1/items/item-gone/refresh", headers=bearer("alice"))).status_code == 410
    assert (await api.http.post("/v1/items/item-b/refresh", headers=bearer("bob"))).status_code == 202

    published = await read_events(kafka_bootstrap_servers, api.topic(ev.TOPIC_SYNC_REQUESTS), at_least=2)
    mine = [e for e in published if e.subject == "item-a"]
    assert len(mine) == 1
    assert str(mine[0].id) == event_id
    assert (mine[0].type, mine[0].source) == (ev.SYNC_REQUESTED, "bankstream/ledger-api")
    assert mine[0].data["user_id"] == "alice"
    assert mine[0].data["refresh"] is True
