"""A user's edit of a transaction (PATCH /v1/transactions/{id}): the user_* columns, a `changes` row and,
when the category moved, CategoryOverridden for the categorizer, all in ONE transaction (the outbox).

A pending transaction that a posted one has replaced takes no edit: the projections already carried its
edits to the successor, and editing that one blind (without its ETag) would skip the If-Match check, so
the answer is 409 naming `successor_id`. A removed pending one with no successor yet takes the edit (the
projections carry it over when the posted one arrives); a removed posted one takes none (409).
"""

from datetime import datetime
from typing import Any

import asyncpg
import structlog
from bankstream_common import outbox
from bankstream_common.auth import Principal
from bankstream_common.envelope import Envelope

from ..adapters import edit_store, read_store
from ..domain import events as ev
from ..domain.categories import Taxonomy
from ..domain.edits import TransactionEdit, previous_category
from ..domain.errors import (
    InvalidQuery,
    StaleEdit,
    TransactionNotFound,
    TransactionRemoved,
    TransactionSuperseded,
)
from ..domain.views import etag, etag_matches, transaction_view
from .context import WRITE, Deps, acting_user

log = structlog.get_logger(__name__)


def edit_of(taxonomy: Taxonomy, fields: dict[str, Any]) -> TransactionEdit:
    """The edit a PATCH body asks for (only the fields present): InvalidQuery when it asks for nothing
    or names a category that is not a PFC v2 detailed one."""
    if not fields:
        raise InvalidQuery("body", "the edit changes nothing: give category, notes, tags or hidden")
    if fields.get("hidden", False) is None:
        raise InvalidQuery("hidden", "hidden must be true or false")
    category = fields.get("category")
    tags = fields.get("tags", ())
    return TransactionEdit(
        sets_category="category" in fields,
        category=taxonomy.detailed(category) if category is not None else None,
        notes=(fields["notes"] or "") if "notes" in fields else None,
        tags=tuple(dict.fromkeys(tags or ())) if "tags" in fields else None,
        hidden=fields.get("hidden"),
    )


async def edit_transaction(
    deps: Deps,
    who: Principal,
    user_id: str | None,
    transaction_id: str,
    edit: TransactionEdit,
    if_match: str | None,
) -> asyncpg.Record:
    user = acting_user(who, WRITE, user_id)
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await edit_store.lock_transaction(conn, transaction_id, user)
        if row is None:
            raise TransactionNotFound(transaction_id)
        current = etag(row["version"], row["edit_version"])
        if if_match is not None and not etag_matches(if_match, current):
            raise StaleEdit(current)
        successor = await read_store.successor_of(conn, transaction_id)
        if successor is not None:
            raise TransactionSuperseded(transaction_id, successor)
        if row["removed"] and not row["pending"]:
            raise TransactionRemoved(transaction_id)
        updated = await edit_store.apply_edit(conn, transaction_id, edit)
        await edit_store.record_change(conn, updated, "edited", transaction_view(updated))
        overridden = edit.changes_category(row)
        if overridden:
            await outbox.enqueue(
                conn,
                topic=deps.topic(ev.TOPIC_CATEGORY_OVERRIDES),
                key=user,
                event=_overridden(user, row, edit, updated["user_edited_at"]),
            )
    deps.metrics.edits.labels("category" if overridden else "other").inc()
    log.info("transaction edited", transaction_id=transaction_id, category_overridden=overridden)
    return updated


def _overridden(user: str, row: asyncpg.Record, edit: TransactionEdit, edited_at: datetime) -> Envelope:
    """The event of an edit of the category; `row` as it was before the edit, `edited_at` the edit's own
    time (`edit_store.apply_edit`: ordered per transaction)."""
    previous = previous_category(row)
    data = ev.CategoryOverridden(
        user_id=user,
        transaction_id=row["transaction_id"],
        account_id=row["account_id"],
        item_id=row["item_id"],
        category=(
            ev.OverriddenCategory(primary=edit.category.primary, detailed=edit.category.detailed)
            if edit.category
            else None
        ),
        previous=ev.PreviousCategory(**previous) if previous else None,
        merchant_name=row["merchant_name"],
        name=row["name"],
        original_description=row["original_description"],
        amount=float(row["amount"]) if row["amount"] is not None else None,
        iso_currency_code=row["iso_currency_code"],
        overridden_at=edited_at,
    )
    return Envelope.new(
        source=ev.SOURCE, type=ev.CATEGORY_OVERRIDDEN, subject=row["transaction_id"], data=data
    )
