"""The projections' SQL for Items, accounts, balances and sync runs (a few rows per sync, row by row).

Every write is guarded so that an older event never overwrites a newer one (see domain.versions); each
function returns the row as it is after the change, or None when the guard said the event was stale.
"""

from decimal import Decimal

import asyncpg

from ..domain.consumed import AccountUpdated, ItemLinked, ItemRemoved, ItemStatusChanged, SyncCompleted
from ..domain.consumed import SyncFailed as SyncFailedEvent
from ..domain.item_status import needs_repair


async def link_item(conn: asyncpg.Connection, e: ItemLinked) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO items AS i (item_id, user_id, institution_id, institution_name, status, needs_repair,
                                   status_changed_at, linked_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
           ON CONFLICT (item_id) DO UPDATE SET
               user_id = EXCLUDED.user_id,
               institution_id = EXCLUDED.institution_id,
               institution_name = EXCLUDED.institution_name,
               linked_at = EXCLUDED.linked_at,
               status = CASE WHEN coalesce(i.status_changed_at < EXCLUDED.linked_at, true)
                             THEN EXCLUDED.status ELSE i.status END,
               needs_repair = CASE WHEN coalesce(i.status_changed_at < EXCLUDED.linked_at, true)
                                   THEN EXCLUDED.needs_repair ELSE i.needs_repair END,
               status_changed_at = greatest(i.status_changed_at, EXCLUDED.status_changed_at),
               updated_at = now()
           RETURNING *""",
        e.item_id,
        e.user_id,
        e.institution_id,
        e.institution_name,
        e.status,
        needs_repair(e.status),
        e.linked_at,
    )


async def link_accounts(conn: asyncpg.Connection, e: ItemLinked) -> list[asyncpg.Record]:
    """The Item's accounts as linked; what an AccountUpdated already wrote (newer) is kept."""
    if not e.accounts:
        return []
    rows: list[asyncpg.Record] = await conn.fetch(
        """INSERT INTO accounts AS a (account_id, item_id, user_id, name, official_name, mask, type, subtype)
           SELECT id, $1, $2, n, o, m, t, s
             FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
                  AS x(id, n, o, m, t, s)
           ON CONFLICT (account_id) DO UPDATE SET
               user_id = EXCLUDED.user_id,
               name = coalesce(a.name, EXCLUDED.name),
               official_name = coalesce(a.official_name, EXCLUDED.official_name),
               mask = coalesce(a.mask, EXCLUDED.mask),
               type = coalesce(a.type, EXCLUDED.type),
               subtype = coalesce(a.subtype, EXCLUDED.subtype),
               updated_at = now()
           RETURNING *""",
        e.item_id,
        e.user_id,
        [a.account_id for a in e.accounts],
        [a.name for a in e.accounts],
        [a.official_name for a in e.accounts],
        [a.mask for a in e.accounts],
        [a.type for a in e.accounts],
        [a.subtype for a in e.accounts],
    )
    return rows


async def claim_rows_for_user(conn: asyncpg.Connection, item_id: str, user_id: str) -> None:
    """Give the Item's user to its rows projected before the Item was known (cross-topic order). Their
    change-feed rows move to this transaction's place in the feed (`txid`): they enter the user's feed
    now, so a reader already past their old place still sees them."""
    for table in ("transactions", "accounts"):
        await conn.execute(
            f"UPDATE {table} SET user_id = $2 WHERE item_id = $1 AND user_id IS NULL",  # noqa: S608
            item_id,
            user_id,
        )
    await conn.execute(
        "UPDATE changes SET user_id = $2, txid = pg_current_xact_id() WHERE item_id = $1 AND user_id IS NULL",
        item_id,
        user_id,
    )


async def change_status(conn: asyncpg.Connection, e: ItemStatusChanged) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """INSERT INTO items AS i (item_id, user_id, status, needs_repair, status_code, status_changed_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (item_id) DO UPDATE SET
               user_id = coalesce(i.user_id, EXCLUDED.user_id),
               status = EXCLUDED.status,
               needs_repair = EXCLUDED.needs_repair,
               status_code = EXCLUDED.status_code,
               status_changed_at = EXCLUDED.status_changed_at,
               updated_at = now()
           WHERE i.removed_at IS NULL
             AND (i.status_changed_at IS NULL OR i.status_changed_at <= EXCLUDED.status_changed_at)
           RETURNING *""",
        e.item_id,
        e.user_id,
        e.status,
        needs_repair(e.status),
        e.code,
        e.changed_at,
    )


async def remove_item(conn: asyncpg.Connection, e: ItemRemoved) -> asyncpg.Record | None:
    """Removal is terminal: the row stays (history, the change feed), marked removed."""
    return await conn.fetchrow(
        """INSERT INTO items AS i (item_id, user_id, status, needs_repair, status_changed_at, removed_at)
           VALUES ($1, $2, 'removed', false, $3, $3)
           ON CONFLICT (item_id) DO UPDATE SET
               user_id = coalesce(i.user_id, EXCLUDED.user_id),
               status = 'removed',
               needs_repair = false,
               status_code = NULL,
               status_changed_at = greatest(i.status_changed_at, EXCLUDED.removed_at),
               removed_at = EXCLUDED.removed_at,
               updated_at = now()
           WHERE i.removed_at IS NULL
           RETURNING *""",
        e.item_id,
        e.user_id,
        e.removed_at,
    )


async def update_balance(conn: asyncpg.Connection, e: AccountUpdated) -> asyncpg.Record | None:
    """The current balance unless a later `as_of` is already there; the day's history point either way
    (the latest `as_of` of that UTC day wins)."""
    b, as_of = e.balances, e.as_of_utc
    await conn.execute(
        """INSERT INTO balance_history AS h (account_id, day, balance_available, balance_current,
                                             balance_limit, iso_currency_code, as_of)
           VALUES ($1, ($6 AT TIME ZONE 'UTC')::date, $2, $3, $4, $5, $6)
           ON CONFLICT (account_id, day) DO UPDATE SET
               balance_available = EXCLUDED.balance_available,
               balance_current = EXCLUDED.balance_current,
               balance_limit = EXCLUDED.balance_limit,
               iso_currency_code = EXCLUDED.iso_currency_code,
               as_of = EXCLUDED.as_of
           WHERE h.as_of <= EXCLUDED.as_of""",
        e.account_id,
        _money(b.available),
        _money(b.current),
        _money(b.limit),
        b.iso_currency_code,
        as_of,
    )
    return await conn.fetchrow(
        """INSERT INTO accounts AS a (account_id, item_id, user_id, name, official_name, mask, type, subtype,
                                      balance_available, balance_current, balance_limit, iso_currency_code,
                                      unofficial_currency_code, balance_as_of)
           VALUES ($1, $2, (SELECT user_id FROM items WHERE item_id = $2), $3, $4, $5, $6, $7,
                   $8, $9, $10, $11, $12, $13)
           ON CONFLICT (account_id) DO UPDATE SET
               item_id = EXCLUDED.item_id,
               user_id = coalesce(a.user_id, EXCLUDED.user_id),
               name = coalesce(EXCLUDED.name, a.name),
               official_name = coalesce(EXCLUDED.official_name, a.official_name),
               mask = coalesce(EXCLUDED.mask, a.mask),
               type = coalesce(EXCLUDED.type, a.type),
               subtype = coalesce(EXCLUDED.subtype, a.subtype),
               balance_available = EXCLUDED.balance_available,
               balance_current = EXCLUDED.balance_current,
               balance_limit = EXCLUDED.balance_limit,
               iso_currency_code = EXCLUDED.iso_currency_code,
               unofficial_currency_code = EXCLUDED.unofficial_currency_code,
               balance_as_of = EXCLUDED.balance_as_of,
               updated_at = now()
           WHERE a.balance_as_of IS NULL OR a.balance_as_of <= EXCLUDED.balance_as_of
           RETURNING *""",
        e.account_id,
        e.item_id,
        e.name,
        e.official_name,
        e.mask,
        e.type,
        e.subtype,
        _money(b.available),
        _money(b.current),
        _money(b.limit),
        b.iso_currency_code,
        b.unofficial_currency_code,
        as_of,
    )


async def sync_completed(conn: asyncpg.Connection, e: SyncCompleted) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """INSERT INTO items AS i (item_id, last_synced_at) VALUES ($1, $2)
           ON CONFLICT (item_id) DO UPDATE SET last_synced_at = EXCLUDED.last_synced_at, updated_at = now()
           WHERE i.last_synced_at IS NULL OR i.last_synced_at < EXCLUDED.last_synced_at
           RETURNING *""",
        e.item_id,
        e.finished_utc,
    )


async def sync_failed(conn: asyncpg.Connection, e: SyncFailedEvent) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """INSERT INTO items AS i (item_id, last_sync_failed_at, last_sync_error_code) VALUES ($1, $2, $3)
           ON CONFLICT (item_id) DO UPDATE SET
               last_sync_failed_at = EXCLUDED.last_sync_failed_at,
               last_sync_error_code = EXCLUDED.last_sync_error_code,
               updated_at = now()
           WHERE i.last_sync_failed_at IS NULL OR i.last_sync_failed_at < EXCLUDED.last_sync_failed_at
           RETURNING *""",
        e.item_id,
        e.finished_utc,
        e.error_code,
    )


def _money(value: float | None) -> Decimal | None:
    """A JSON number by its shortest text (12.34, not 12.339999...), which PostgreSQL rounds to cents."""
    return None if value is None else Decimal(repr(value))
