"""The pagination loop an Item has open between page commits (ADR 0011): its state in `sync_items.loop_*`
and the ids each committed page touched (`sync_loop_pages`), written in the page's commit transaction and
cleared by the loop's final commit. A run that finds a loop open carries it on from the committed cursor."""

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class OpenLoop:
    """A pagination loop an earlier run left open (it committed pages, then crashed or failed): the next
    run carries it on from the Item's `cursor`."""

    run_id: str
    start_cursor: str
    started_at: dt.datetime
    first_sequence: int
    pages: int
    added: int
    modified: int
    removed: int
    restarts: int


@dataclass(frozen=True)
class PageCommit:
    """What a page's checkpoint writes besides its events."""

    cursor: str
    last_sequence: int
    loop: OpenLoop
    added: Sequence[tuple[str, str]]
    mentioned: Sequence[str]


def from_row(r: asyncpg.Record) -> OpenLoop | None:
    if r["loop_run_id"] is None:
        return None
    return OpenLoop(
        str(r["loop_run_id"]),
        r["loop_cursor"],
        r["loop_started_at"],
        r["loop_first_sequence"],
        r["loop_pages"],
        r["loop_added"],
        r["loop_modified"],
        r["loop_removed"],
        r["loop_restarts"],
    )


async def record_page(conn: asyncpg.Connection, item_id: str, page: PageCommit) -> None:
    """In the page's commit transaction (fenced by the caller): the next cursor, the loop's state, the ids."""
    await conn.execute(
        """UPDATE sync_items SET cursor = $2, last_sequence = $3, loop_run_id = $4, loop_cursor = $5,
               loop_started_at = $6, loop_first_sequence = $7, loop_pages = $8, loop_added = $9,
               loop_modified = $10, loop_removed = $11, loop_restarts = $12, updated_at = now()
           WHERE item_id = $1""",
        item_id,
        page.cursor,
        page.last_sequence,
        uuid.UUID(page.loop.run_id),
        page.loop.start_cursor,
        page.loop.started_at,
        page.loop.first_sequence,
        page.loop.pages,
        page.loop.added,
        page.loop.modified,
        page.loop.removed,
        page.loop.restarts,
    )
    await conn.execute(
        """INSERT INTO sync_loop_pages (item_id, page, pass, added, added_accounts, mentioned)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (item_id, page) DO UPDATE SET pass = excluded.pass, added = excluded.added,
               added_accounts = excluded.added_accounts, mentioned = excluded.mentioned""",
        item_id,
        page.loop.pages,
        page.loop.restarts,
        [t for t, _ in page.added],
        [a for _, a in page.added],
        list(page.mentioned),
    )


async def close(conn: asyncpg.Connection, item_id: str) -> None:
    """In the loop's final commit: no loop open any more."""
    await conn.execute(
        """UPDATE sync_items SET loop_run_id = NULL, loop_cursor = NULL, loop_started_at = NULL,
               loop_first_sequence = NULL, loop_pages = 0, loop_added = 0, loop_modified = 0,
               loop_removed = 0, loop_restarts = 0
           WHERE item_id = $1""",
        item_id,
    )
    await conn.execute("DELETE FROM sync_loop_pages WHERE item_id = $1", item_id)


async def vanished(
    pool: asyncpg.Pool, item_id: str, final_pass: int, last_page: Collection[str]
) -> list[tuple[str, str]]:
    """(transaction_id, account_id) that the open loop's earlier passes committed as added and neither
    its final pass's committed pages nor `last_page` (the final pass's ids not yet committed) mention,
    in the order they were published."""
    rows = await pool.fetch(
        """WITH earlier AS (
               SELECT p.page, a.ord, a.t, a.acct FROM sync_loop_pages p,
                      unnest(p.added, p.added_accounts) WITH ORDINALITY AS a(t, acct, ord)
               WHERE p.item_id = $1 AND p.pass < $2),
           final AS (
               SELECT unnest(p.added || p.mentioned) AS t FROM sync_loop_pages p
               WHERE p.item_id = $1 AND p.pass = $2
               UNION ALL SELECT unnest($3::text[]))
           SELECT DISTINCT ON (e.t) e.t, e.acct, e.page, e.ord FROM earlier e
           WHERE NOT EXISTS (SELECT 1 FROM final f WHERE f.t = e.t)
           ORDER BY e.t, e.page DESC, e.ord DESC""",
        item_id,
        final_pass,
        list(last_page),
    )
    ordered = sorted(rows, key=lambda r: (r["page"], r["ord"]))
    return [(r["t"], r["acct"]) for r in ordered]
