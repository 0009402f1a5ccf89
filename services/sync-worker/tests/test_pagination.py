"""The pipelined pagination loop gives exactly what a strictly sequential loop gives, even when the hints
it reads from raw bytes (next cursor, change count) are wrong: every page once, in order, numbered without
gaps. The pages here are canned bodies; the loop against the emulator is in test_sync_against_emulator."""

import asyncio
import datetime as dt
import json

import pytest
from sync_worker.adapters.page_builder import PageBuilder
from sync_worker.domain.errors import PlaidRequestRejected
from sync_worker.domain.run import Collected, build_page
from sync_worker.handlers.pagination import paginate

from .test_transaction_events import TXN


def body(cursor: str, n: int, more: bool, **extra: object) -> bytes:
    added = [{**TXN, "transaction_id": f"{cursor}-{i}", "pending_transaction_id": None} for i in range(n)]
    return json.dumps(
        {"added": added, "modified": [], "removed": [], "accounts": [], "next_cursor": cursor,
         "has_more": more, "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE", **extra}
    ).encode()  # fmt: skip


def chain(lying: bool) -> dict[str, bytes]:
    """cursor -> page. `lying`: page c1 mentions a second "next_cursor" after the real one (the cursor
    hint points elsewhere) and page c2 has an unknown field holding a "transaction_id" (the count hint is
    one too high)."""
    pages = {
        "": body("c1", 3, True),
        "c1": body("c2", 4, True),
        "c2": body("c3", 2, True),
        "c3": body("c4", 1, False),
    }
    if lying:
        pages["c1"] = body("c2", 4, True, trailer={"next_cursor": "bogus", "has_more": True})
        first = json.loads(pages["c2"])
        first["added"][0]["future_field"] = {"transaction_id": "not a change"}
        pages["c2"] = json.dumps(first).encode()
        pages["bogus"] = body("nowhere", 9, True)
    return pages


@pytest.mark.parametrize("processes", [0, 1, 2])
@pytest.mark.parametrize("lying", [False, True])
async def test_pipelined_pages_equal_the_sequential_loop(processes: int, lying: bool) -> None:
    pages = chain(lying)
    fetched: list[str] = []

    async def fetch(cursor: str) -> bytes:
        fetched.append(cursor)
        return pages[cursor]

    staged: list[tuple[int, str, str, bytes]] = []

    async def stage(events: list[tuple[int, str, str, bytes]], _: object) -> None:
        staged.extend(events)

    collected = Collected("item-1", "run-1", "", 101, dt.datetime.now(dt.UTC))
    builder = PageBuilder(processes)
    await builder.start()
    try:
        await paginate(collected, fetch, builder, stage)
    finally:
        builder.close()

    # the sequential truth: page after page, each numbered after the ones before
    truth, cursor, position = [], "", 0
    while True:
        built = build_page(pages[cursor], "item-1", "run-1", 101 + position, position, collected.fetched_at)
        assert built.summary is not None
        truth.extend(built.events)
        position += len(built.events)
        if not built.summary.has_more:
            break
        cursor = built.summary.next_cursor
    assert [seq for seq, *_ in staged] == list(range(101, 111))
    assert [(seq, event_id, key) for seq, event_id, key, _ in staged] == [e[:3] for e in truth]
    assert [json.loads(p)["data"]["transaction_id"] for *_, p in staged] == [
        json.loads(p)["data"]["transaction_id"] for *_, p in truth
    ]
    assert (collected.pages, collected.added, collected.next_cursor) == (4, 10, "c4")
    assert collected.last_sequence == 110
    if lying and processes:
        assert "bogus" in fetched  # the wrong hint was followed, then dropped


async def walk(pages: dict[str, bytes], page_limit: int | None = None) -> tuple[Collected, list[str]]:
    """The loop over canned pages; what it fetched. A loop that does not end fails the test in 10 s."""
    fetched: list[str] = []

    async def fetch(cursor: str) -> bytes:
        fetched.append(cursor)
        return pages[cursor]

    async def stage(events: object, _: object) -> None:
        return None

    collected = Collected("item-1", "run-1", "", 1, dt.datetime.now(dt.UTC))
    limit = {} if page_limit is None else {"page_limit": page_limit}
    await asyncio.wait_for(paginate(collected, fetch, PageBuilder(0), stage, **limit), 10)
    return collected, fetched


async def test_has_more_with_a_cursor_that_does_not_move_fails_the_run() -> None:
    """Plaid answering has_more=true with the cursor it was asked with (empty pages): refused at once,
    instead of asking for the same page forever."""
    pages = {"": body("c1", 2, True), "c1": body("c1", 0, True)}
    with pytest.raises(PlaidRequestRejected) as refused:
        await walk(pages)
    assert refused.value.error_code == "INVALID_RESPONSE" and "cursor" in str(refused.value)


async def test_a_run_asks_for_a_bounded_number_of_pages() -> None:
    """Cursors that move but never end (c1, c2, c1, ...): the run stops at its page limit."""
    pages = {"": body("c1", 1, True), "c1": body("c2", 1, True), "c2": body("c1", 1, True)}
    with pytest.raises(PlaidRequestRejected) as refused:
        await walk(pages, page_limit=10)
    assert refused.value.error_code == "TOO_MANY_PAGES"
    collected, fetched = await walk({**pages, "c2": body("c3", 1, False)}, page_limit=3)
    assert (collected.pages, fetched) == (3, ["", "c1", "c2"]), "a loop of exactly the limit completes"
