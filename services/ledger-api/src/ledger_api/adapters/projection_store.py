"""The projections' set-based SQL: Item locks, the version-guarded transaction upsert, the change feed.

One statement per step for a whole batch (arrays in, `unnest` in SQL), never one round trip per row.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from ..domain.consumed import TransactionCategorized, details_of

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
           SELECT u, i, e, id, op, v, d::jsonb
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                         $7::text[]) WITH ORDINALITY AS c(u, i, e, id, op, v, d, n)
            ORDER BY n""",
        [c.user_id for c in changes],
        [c.item_id for c in changes],
        [c.entity for c in changes],
        [c.entity_id for c in changes],
        [c.op for c in changes],
        [c.version for c in changes],
        [json.dumps(c.data, separators=(",", ":")) for c in changes],
    )


# Data columns a live event sets and a removal leaves as they were (the tombstone keeps the last state).
_DATA = (
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
    f"{c} = CASE WHEN EXCLUDED.removed THEN t.{c} ELSE EXCLUDED.{c} END" for c in _DATA
)
_CARRY = ",\n".join(
    f"{c} = CASE WHEN t.user_edited_at IS NULL AND EXCLUDED.user_edited_at IS NOT NULL "
    f"THEN EXCLUDED.{c} ELSE t.{c} END"
    for c in _EDITS
)

UPSERT_TRANSACTIONS = f"""
INSERT INTO transactions AS t (
    transaction_id, user_id, item_id, account_id, version, removed, removed_at, {", ".join(_DATA)},
    {", ".join(_EDITS)})
SELECT i.transaction_id, coalesce(i.user_id, it.user_id), i.item_id, i.account_id, i.version, i.removed,
       i.removed_at, i.pending, i.pending_transaction_id, i.amount::numeric(18,2), i.iso_currency_code,
       i.unofficial_currency_code, i.date, i.authorized_date, i.datetime, i.name, i.merchant_name,
       i.original_description, i.payment_channel, i.category_primary, i.category_detailed,
       i.category_source, i.category_confidence, i.category_decided_by,
       coalesce(i.category_needs_review, false), i.plaid_category_detailed, i.details::jsonb,
       s.user_category_primary, s.user_category_detailed, s.user_notes, coalesce(s.user_tags, '{{}}'),
       coalesce(s.user_hidden, false), s.user_edited_at
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bool[], $7::timestamptz[],
              $8::bool[], $9::text[], $10::float8[], $11::text[], $12::text[], $13::date[], $14::date[],
              $15::timestamptz[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[],
              $21::text[], $22::text[], $23::float4[], $24::text[], $25::bool[], $26::text[], $27::text[])
       AS i(transaction_id, user_id, item_id, account_id, version, removed, removed_at, pending,
            pending_transaction_id, amount, iso_currency_code, unofficial_currency_code, date,
            authorized_date, datetime, name, merchant_name, original_description, payment_channel,
            category_primary, category_detailed, category_source, category_confidence,
            category_decided_by, category_needs_review, plaid_category_detailed, details)
  LEFT JOIN items it ON it.item_id = i.item_id
  LEFT JOIN transactions s
         ON NOT i.removed AND s.transaction_id = i.pending_transaction_id AND s.user_edited_at IS NOT NULL
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
RETURNING t.*
"""  # noqa: S608 - the interpolated names are the constants above


def _columns(events: Sequence[tuple[TransactionCategorized, dict[str, Any] | None]]) -> list[list[Any]]:
    cols: list[list[Any]] = [[] for _ in range(27)]
    for event, raw in events:
        t, c = event.transaction, event.category
        pfc = t.personal_finance_category if t else None
        details = details_of(raw)
        row = (
            event.transaction_id,
            event.user_id,
            event.item_id,
            event.account_id,
            event.version,
            event.removed,
            event.decided_at if event.removed else None,
            t.pending if t else None,
            t.pending_transaction_id if t else None,
            t.amount if t else None,
            t.iso_currency_code if t else None,
            t.unofficial_currency_code if t else None,
            t.date if t else None,
            t.authorized_date if t else None,
            t.datetime if t else None,
            t.name if t else None,
            t.merchant_name if t else None,
            t.original_description if t else None,
            t.payment_channel if t else None,
            c.primary if c else None,
            c.detailed if c else None,
            c.source if c else None,
            c.confidence if c else None,
            c.decided_by if c else None,
            c.needs_review if c else None,
            pfc.detailed if pfc else None,
            json.dumps(details, separators=(",", ":")) if details is not None else None,
        )
        for col, value in zip(cols, row, strict=True):
            col.append(value)
    return cols


async def upsert_transactions(
    conn: asyncpg.Connection, events: Sequence[tuple[TransactionCategorized, dict[str, Any] | None]]
) -> dict[str, asyncpg.Record]:
    """Apply one round (each transaction_id at most once): the rows that changed, by transaction_id.
    A stale event (its version not above the row's) changes nothing and is absent from the answer."""
    rows = await conn.fetch(UPSERT_TRANSACTIONS, *_columns(events))
    return {r["transaction_id"]: r for r in rows}
