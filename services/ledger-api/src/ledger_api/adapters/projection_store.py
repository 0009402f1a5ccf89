"""The projections' set-based SQL: Item locks, the version-guarded transaction upsert, the change feed.

One statement per step for a whole batch, never one round trip per row. A batch travels as ONE JSON
array parameter (the transaction events: their records' own bytes joined, parsed by PostgreSQL, which
reads each one's `data` with `jsonb_to_record`): cheaper than one array parameter per column, whose
elements the driver checks one by one, and nothing is serialized in Python.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic_core import to_json

from ..domain.consumed import COLUMN_FIELDS
from .view_sql import transaction_view_sql

# Advisory-lock namespace of an Item (the second key is hashtext(item_id)).
ITEM_LOCK = 0x1ED6E5


async def lock_items(conn: asyncpg.Connection, exclusive: Iterable[str], shared: Iterable[str]) -> None:
    """Take the Items' locks for this transaction, all at once, in one global order (no deadlock).

    Who writes an Item's user_id into its rows (ItemLinked: exclusive) and who reads it to fill in a new
    row (transactions, accounts: shared) never overlap, so a row written with no user while the Item was
    unknown is always seen, and filled, by the ItemLinked projection."""
    ex = sorted(set(exclusive))
    sh = sorted(set(shared) - set(ex))
    if not ex and not sh:
        return
    await conn.execute(
        """SELECT CASE WHEN x THEN pg_advisory_xact_lock($1, h) ELSE pg_advisory_xact_lock_shared($1, h) END
             FROM (SELECT h, bool_or(x) AS x
                     FROM unnest($2::text[], $3::bool[]) AS k(id, x), hashtext(k.id) AS h
                    GROUP BY h ORDER BY h) AS l""",
        ITEM_LOCK,
        ex + sh,
        [True] * len(ex) + [False] * len(sh),
    )


@dataclass(frozen=True)
class Change:
    entity: str  # transaction | account | item
    entity_id: str
    op: str
    data: dict[str, Any]
    user_id: str | None
    item_id: str | None
    version: int | None = None


async def record_changes(conn: asyncpg.Connection, changes: Sequence[Change]) -> None:
    """Append to the change feed, in the given order (seq follows it within this transaction)."""
    if not changes:
        return
    await conn.execute(
        """INSERT INTO changes (user_id, item_id, entity, entity_id, op, version, data)
           SELECT c.user_id, c.item_id, c.entity, c.entity_id, c.op, c.version, c.data
             FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (user_id text, item_id text, entity text,
                             entity_id text, op text, version bigint, data jsonb))
                  WITH ORDINALITY AS c(user_id, item_id, entity, entity_id, op, version, data, n)
            ORDER BY c.n""",
        to_json(
            [
                {"user_id": c.user_id, "item_id": c.item_id, "entity": c.entity, "entity_id": c.entity_id,
                 "op": c.op, "version": c.version, "data": c.data}
                for c in changes
            ]
        ).decode(),
    )  # fmt: skip


# What `details` leaves out of the event's transaction: what has a column (or is an id).
DETAIL_EXCLUDED = sorted(COLUMN_FIELDS)
# Data columns a live event sets and a removal leaves as they were (the tombstone keeps the last state).
DATA_COLUMNS = (
    "pending", "pending_transaction_id", "amount", "iso_currency_code", "unofficial_currency_code", "date",
    "authorized_date", "datetime", "name", "merchant_name", "original_description", "payment_channel",
    "category_primary", "category_detailed", "category_source", "category_confidence",
    "category_decided_by", "category_needs_review", "plaid_category_detailed", "details",
)  # fmt: skip
# The user's edits: written by a projection ONLY to carry them from a pending transaction to the posted one
# that replaces it, and only when the posted one has none of its own.
_EDITS = (
    "user_category_primary", "user_category_detailed", "user_notes", "user_tags", "user_hidden",
    "user_edited_at",
)  # fmt: skip

_KEEP_ON_REMOVAL = ",\n".join(
    f"{c} = CASE WHEN EXCLUDED.removed THEN t.{c} ELSE EXCLUDED.{c} END" for c in DATA_COLUMNS
)
_CARRY = ",\n".join(
    f"{c} = CASE WHEN t.user_edited_at IS NULL AND EXCLUDED.user_edited_at IS NOT NULL "
    f"THEN EXCLUDED.{c} ELSE t.{c} END"
    for c in _EDITS
)

UPSERT_TRANSACTIONS = f"""
WITH i AS MATERIALIZED (
  SELECT d.*, a.ordinality
    FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS a(e, ordinality),
         jsonb_to_record(a.e->'data')
         AS d(change text, transaction_id text, account_id text, item_id text, user_id text, version bigint,
              decided_at timestamptz, "transaction" jsonb, category jsonb)
), up AS (
INSERT INTO transactions AS t (
    transaction_id, user_id, item_id, account_id, version, removed, removed_at, {", ".join(DATA_COLUMNS)},
    {", ".join(_EDITS)})
SELECT i.transaction_id, coalesce(i.user_id, it.user_id), i.item_id, i.account_id, i.version,
       i.change = 'removed', CASE WHEN i.change = 'removed' THEN i.decided_at END,
       (x->>'pending')::bool, x->>'pending_transaction_id', (x->>'amount')::numeric(18,2),
       x->>'iso_currency_code', x->>'unofficial_currency_code', (x->>'date')::date,
       (x->>'authorized_date')::date, (x->>'datetime')::timestamptz, x->>'name', x->>'merchant_name',
       x->>'original_description', x->>'payment_channel', c->>'primary', c->>'detailed', c->>'source',
       (c->>'confidence')::real, c->>'decided_by', coalesce((c->>'needs_review')::bool, false),
       x->'personal_finance_category'->>'detailed', jsonb_strip_nulls(x - $2::text[]),
       s.user_category_primary, s.user_category_detailed, s.user_notes, coalesce(s.user_tags, '{{}}'),
       coalesce(s.user_hidden, false), s.user_edited_at
  FROM i
  CROSS JOIN LATERAL (SELECT i."transaction" AS x, i.category AS c) AS e
  LEFT JOIN items it ON it.item_id = i.item_id
  -- the pending transaction this posted one replaces, if it carries edits: one primary-key probe per
  -- row that names one (OFFSET 0 keeps the planner from turning it into a scan of the whole table)
  LEFT JOIN LATERAL (
         SELECT * FROM transactions s
          WHERE s.transaction_id = x->>'pending_transaction_id' AND s.user_edited_at IS NOT NULL
            AND i.change <> 'removed'
         OFFSET 0) s ON true
ON CONFLICT (transaction_id) DO UPDATE SET
    version = EXCLUDED.version,
    user_id = coalesce(t.user_id, EXCLUDED.user_id),
    item_id = EXCLUDED.item_id,
    account_id = EXCLUDED.account_id,
    removed = EXCLUDED.removed,
    removed_at = CASE WHEN EXCLUDED.removed THEN coalesce(t.removed_at, EXCLUDED.removed_at) END,
{_KEEP_ON_REMOVAL},
{_CARRY},
    updated_at = now()
WHERE t.version < EXCLUDED.version
RETURNING t.transaction_id, t.user_id, t.item_id, t.version, {transaction_view_sql("t")} AS view
), recorded AS (
INSERT INTO changes (user_id, item_id, entity, entity_id, op, version, data)
SELECT up.user_id, up.item_id, 'transaction', up.transaction_id, i.change, up.version, up.view
  FROM up JOIN i USING (transaction_id)
 ORDER BY i.ordinality
RETURNING 1
)
SELECT count(*) FROM recorded
"""  # noqa: S608 - the interpolated names are the constants above


def batch_json(events: Sequence[bytes]) -> str:
    """One round's events as the JSON array the upsert reads: each event an envelope's JSON (only its
    `data` is read) as it arrived, already validated by its reader (domain.consumed.TransactionCategorized);
    PostgreSQL takes the fields apart."""
    return (b"[" + b",".join(events) + b"]").decode()


async def upsert_transactions(conn: asyncpg.Connection, events: Sequence[bytes]) -> int:
    """Apply one round (each transaction_id at most once) and append a change-feed row per transaction
    that changed, in the round's order, with its public JSON (adapters.view_sql) after the change: one
    statement. A stale event (its version not above the row's) changes nothing and records nothing.
    Returns how many changed."""
    applied: int = await conn.fetchval(UPSERT_TRANSACTIONS, batch_json(events), DETAIL_EXCLUDED)
    return applied
