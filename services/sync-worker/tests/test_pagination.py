"""The pipelined pagination loop gives exactly what a strictly sequential loop gives, even when the hints
it reads from raw bytes (next cursor, change count) are wrong: every page once, in order, numbered without
gaps. The pages here are canned bodies; the loop against the emulator is in test_sync_against_emulator."""

import datetime as dt
import json

import pytest
from sync_worker.adapters.page_builder import PageBuilder
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
