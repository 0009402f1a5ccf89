"""The change feed (a page at a time, or as Server-Sent Events) and on-demand refreshes of an Item.

A feed position is (txid, seq) of the last change served, handed out as an opaque cursor: the `cursor`
of a page, the `id` of an SSE event (so `Last-Event-ID` resumes a stream where it broke off).
"""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from bankstream_common import outbox
from bankstream_common.auth import Principal
from bankstream_common.envelope import Envelope

from ..adapters import edit_store, feed_store
from ..domain import events as ev
from ..domain.cursors import START, FeedPosition, decode_feed, encode_feed
from ..domain.errors import ItemGone, ItemNotFound, RateLimited, TooManyStreams
from .context import READ, WRITE, Deps, acting_user

log = structlog.get_logger(__name__)

STREAM_BATCH = 500


@dataclass(frozen=True)
class ChangesPage:
    changes: list[dict[str, Any]]
    next_cursor: str  # always set: pass it back to continue, even when this page was empty


def _with_cursor(row: dict[str, Any]) -> dict[str, Any]:
    cursor = encode_feed(FeedPosition(row.pop("txid"), row["seq"]))
    return {"cursor": cursor, **row}


async def changes_page(
    deps: Deps, who: Principal, user_id: str | None, cursor: str | None, limit: int
) -> ChangesPage:
    user = acting_user(who, READ, user_id)
    after = decode_feed(cursor) if cursor else START
    rows = [_with_cursor(r) for r in await feed_store.changes_after(deps.pool, user, after, limit)]
    return ChangesPage(rows, rows[-1]["cursor"] if rows else encode_feed(after))


def open_stream(
    deps: Deps, who: Principal, user_id: str | None, last_event_id: str | None
) -> AsyncIterator[str]:
    """Check the caller and the position now (so a refusal is an HTTP error), then stream."""
    user = acting_user(who, READ, user_id)
    after = decode_feed(last_event_id) if last_event_id else START
    if deps.open_streams >= deps.settings.stream_max_clients:
        raise TooManyStreams()
    return _stream(deps, user, after)


async def _stream(deps: Deps, user: str, after: FeedPosition) -> AsyncIterator[str]:
    s = deps.settings
    started = last_sent = time.monotonic()
    deps.open_streams += 1
    deps.metrics.streams_open.inc()
    try:
        yield f"retry: {int(s.stream_poll_seconds * 2000)}\n\n"
        while not deps.stopping.is_set() and time.monotonic() - started < s.stream_max_seconds:
            rows = await feed_store.changes_after(deps.pool, user, after, STREAM_BATCH)
            for row in rows:
                after = FeedPosition(row["txid"], row["seq"])
                body = orjson.dumps(_with_cursor(row)).decode()
                yield f"id: {encode_feed(after)}\nevent: change\ndata: {body}\n\n"
            if rows:
                last_sent = time.monotonic()
                deps.metrics.stream_events.inc(len(rows))
                if len(rows) == STREAM_BATCH:
                    continue
            elif time.monotonic() - last_sent >= s.stream_heartbeat_seconds:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"
            try:
                await asyncio.wait_for(deps.stopping.wait(), s.stream_poll_seconds)
            except TimeoutError:
                pass
    finally:
        deps.open_streams -= 1
        deps.metrics.streams_open.dec()


async def request_refresh(deps: Deps, who: Principal, user_id: str | None, item_id: str) -> Envelope:
    user = acting_user(who, WRITE, user_id)
    every = deps.settings.refresh_interval_seconds
    async with deps.pool.acquire() as conn, conn.transaction():
        item = await edit_store.get_item(conn, item_id)
        if item is None or item["user_id"] != user:
            raise ItemNotFound(item_id)
        if item["removed_at"] is not None:
            raise ItemGone(item_id)
        wait = await edit_store.claim_refresh(conn, item_id, every)
        if wait > 0:
            deps.metrics.refreshes.labels("rate_limited").inc()
            raise RateLimited(f"item {item_id} was refreshed less than {every:g}s ago", wait)
        data = ev.SyncRequested(
            user_id=user,
            item_id=item_id,
            requested_by=who.subject,
            refresh=True,
            requested_at=datetime.now(UTC),
        )
        event = Envelope.new(source=ev.SOURCE, type=ev.SYNC_REQUESTED, subject=item_id, data=data)
        await outbox.enqueue(conn, topic=deps.topic(ev.TOPIC_SYNC_REQUESTS), key=item_id, event=event)
    deps.metrics.refreshes.labels("requested").inc()
    log.info("refresh requested", item_id=item_id)
    return event
