"""One pagination loop of /transactions/sync, pipelined: fetching, building and staging pages overlap.

    fetch k+1 ──> build k, k-1 (page builder's processes) ──> stage k-2 (COPY)

Page k+1 is requested as soon as page k's raw bytes arrive: its cursor is read from them (`peek_cursor`)
before any parsing. Up to `PageBuilder.depth` pages are built at once, each numbered after the pages before
it by the change count read from THEIR raw bytes (`count_changes`). Both readings are hints, checked when
each page's build comes back, in order: a wrong cursor drops every later page and refetches from the parsed
cursor; a wrong count rebuilds the later pages with the right numbers. So the run's events and their
numbering are exactly those of the strictly sequential loop, whatever the hints said.
"""

import asyncio
import contextlib
import datetime as dt
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..adapters.page_builder import PageBuilder
from ..domain.errors import PlaidRequestRejected
from ..domain.plaid_page import count_changes, peek_cursor
from ..domain.run import BuiltPage, Checkpoint, Collected, StagedEvent

FetchPage = Callable[[str], Awaitable[bytes]]  # cursor -> raw body
CommitPage = Callable[[list[StagedEvent], Checkpoint], Awaitable[None]]  # stage + checkpoint, in page order


@dataclass
class _Building:
    raw: bytes
    hint: tuple[str, bool] | None  # (next_cursor, has_more) as read from the raw bytes
    position: int  # the run position its first event got
    changes: int  # its change count as read from the raw bytes
    fetched_at: dt.datetime
    build: "asyncio.Future[BuiltPage]"


async def paginate(
    collected: Collected,
    fetch_page: FetchPage,
    pages: PageBuilder,
    commit: CommitPage,
    on_page: Callable[[], None] = lambda: None,
    page_limit: int | None = None,
) -> None:
    """Walk from `collected.next_cursor` to has_more=false, counting pages into `collected` and handing
    each page's events with its checkpoint to `commit`, in order, one at a time (while later pages are
    fetched and built). Raises what fetching raises, and PlaidRequestRejected for a page that breaks
    Plaid's contract, for has_more=true with the cursor the page was asked with (the loop would never
    end), and once `collected.pages` reached `page_limit` with more to come. A page's commit in progress
    when fetching fails is finished, never cancelled, so `collected` knows exactly what was committed."""
    building: deque[_Building] = deque()
    fetch: asyncio.Future[bytes] | None = asyncio.ensure_future(fetch_page(collected.next_cursor))
    staging: asyncio.Future[None] | None = None

    def start(raw: bytes, hint: tuple[str, bool] | None, position: int, fetched_at: dt.datetime) -> None:
        future = asyncio.ensure_future(
            pages.build(
                raw,
                collected.item_id,
                collected.run_id,
                collected.first_sequence + position,
                position,
                fetched_at,
            )
        )
        building.append(_Building(raw, hint, position, count_changes(raw), fetched_at, future))

    def drop_queued() -> None:
        for queued in building:
            queued.build.cancel()
        building.clear()

    async def feed() -> None:
        """Start building the pages fetched so far; wait for a fetch only when nothing is being built."""
        nonlocal fetch
        while fetch is not None and len(building) < pages.depth and (not building or fetch.done()):
            if building and fetch.exception() is not None:
                break  # maybe asked on a wrong hint: raise only once the pages before it are checked
            raw = await fetch
            hint = peek_cursor(raw)
            fetch = asyncio.ensure_future(fetch_page(hint[0])) if hint is not None and hint[1] else None
            position = building[-1].position + building[-1].changes if building else collected.changes
            start(raw, hint, position, dt.datetime.now(dt.UTC))

    try:
        while True:
            await feed()
            current = building[0]
            while (
                not current.build.done()
                and fetch is not None
                and not fetch.done()
                and len(building) < pages.depth
            ):
                racing: set[asyncio.Future[object]] = {current.build, fetch}  # type: ignore[arg-type]
                await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
                await feed()
            building.popleft()
            built = await current.build
            if built.summary is None:
                raise PlaidRequestRejected("INVALID_RESPONSE", "PARSE", built.error or "unparseable page")
            page = built.summary
            if page.has_more and not page.not_ready and page.next_cursor == collected.next_cursor:
                raise PlaidRequestRejected(
                    "INVALID_RESPONSE", "PAGINATION", "has_more=true with the cursor the page was asked with"
                )
            if page_limit is not None and collected.pages >= page_limit:
                raise PlaidRequestRejected(
                    "TOO_MANY_PAGES", "PAGINATION", f"{page_limit} pages, more to come"
                )
            changes = page.added + page.modified + page.removed
            if page.has_more and not page.not_ready and current.hint != (page.next_cursor, True):
                # the cursor hint was wrong: what was fetched after this page is not the next page
                drop_queued()
                if fetch is not None:
                    fetch.cancel()
                fetch = asyncio.ensure_future(fetch_page(page.next_cursor))
            elif changes != current.changes and building:
                # the count hint was wrong: renumber the pages after this one
                queued = list(building)
                drop_queued()
                position = current.position + changes
                for q in queued:
                    start(q.raw, q.hint, position, q.fetched_at)
                    position += q.changes
            checkpoint = collected.add_page(page, current.fetched_at)
            on_page()
            if staging is not None:
                await staging
            staging = asyncio.ensure_future(commit(built.events, checkpoint))
            if not page.has_more or collected.not_ready:
                await staging
                return
    finally:
        leftovers = [b.build for b in building] + ([fetch] if fetch is not None else [])
        for pending in leftovers:  # nothing left running, no exception left unretrieved
            if not pending.done():
                pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        if staging is not None and not staging.done():  # a page's commit: finished, its outcome known
            with contextlib.suppress(BaseException):
                await asyncio.shield(staging)
