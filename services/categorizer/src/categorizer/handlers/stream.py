"""The enriched stream: each TransactionChanged becomes exactly one TransactionCategorized, written to the
outbox in the transaction that records the transaction's new state (the consumer runner's inbox makes a
redelivery a no-op). Records of one account arrive in order on one partition and are handled in order,
so their outputs leave in the same order.

An Item not yet known (its ItemLinked not seen) is categorized without user context (user_id null); when
its ItemLinked arrives, its transactions learn their user and, if that user has rules or learned keys, a
job re-categorizes them (converges). The Item's advisory lock (shared here, exclusive in ItemLinked)
keeps the two from interleaving; the user's context row read FOR SHARE keeps a rule change from
interleaving with a decision.
"""

from datetime import UTC, datetime

import asyncpg
import structlog
from bankstream_common import outbox
from bankstream_common.envelope import Envelope
from bankstream_common.errors import PermanentError

from ..adapters import store
from ..domain import events as ev
from ..domain.decide import NO_USER, decide
from ..domain.learning import merchant_key
from . import corrections, jobs
from .context import Deps, categorized, category_of, txn_of_state

log = structlog.get_logger(__name__)

IGNORED_PREFIXES = ("bankstream.item.",)  # other Item events (status changes) say nothing we need


async def on_event(deps: Deps, conn: asyncpg.Connection, event: Envelope) -> None:
    match event.type:
        case ev.TRANSACTION_CHANGED:
            await on_transaction_changed(deps, conn, event)
        case ev.ITEM_LINKED:
            await on_item_linked(deps, conn, event)
        case ev.ITEM_REMOVED:
            await store.remove_item(conn, ev.ItemRemovedIn.model_validate(event.data).item_id)
        case ev.CATEGORY_OVERRIDDEN:
            await corrections.on_category_overridden(deps, conn, event)
        case other if other.startswith(IGNORED_PREFIXES):
            return
        case other:
            raise PermanentError(f"categorizer does not know the event type {other}")


async def on_transaction_changed(deps: Deps, conn: asyncpg.Connection, event: Envelope) -> None:
    data = ev.TransactionChangedIn.model_validate(event.data)
    await store.lock_item_shared(conn, data.item_id)
    owner = await store.owner_of(conn, data.item_id)
    user_id = owner[0] if owner else None
    if data.change == "removed":
        transaction, category, key = None, None, None
        state_json = category_json = None
    else:
        ctx = await deps.context_for(conn, owner[0], owner[1]) if owner else NO_USER
        t = txn_of_state(data)
        decision = decide(t, ctx, deps.model, deps.model_name)
        deps.metrics.decisions.labels(decision.source, "stream").inc()
        transaction, category = data.state(), category_of(decision)
        key = merchant_key(t.merchant_name, t.description)
        state_json, category_json = transaction.model_dump_json(), category.model_dump_json()
    version = await store.upsert_transaction(
        conn,
        transaction_id=data.transaction_id,
        account_id=data.account_id,
        item_id=data.item_id,
        user_id=user_id,
        merchant_key=key,
        state=state_json,
        category=category_json,
        sync_sequence=data.sync_sequence,
    )
    out = ev.TransactionCategorized(
        change=data.change,
        transaction_id=data.transaction_id,
        account_id=data.account_id,
        item_id=data.item_id,
        user_id=user_id,
        version=version,
        sync_sequence=data.sync_sequence,
        caused_by=str(event.id),
        transaction=transaction,
        category=category,
        decided_at=datetime.now(UTC),
    )
    await outbox.enqueue(
        conn, topic=deps.topic(ev.TOPIC_CATEGORIZED), key=data.account_id, event=categorized(out)
    )


async def on_item_linked(deps: Deps, conn: asyncpg.Connection, event: Envelope) -> None:
    data = ev.ItemLinkedIn.model_validate(event.data)
    await store.lock_item(conn, data.item_id)
    moved = await store.link_item(conn, data.item_id, data.user_id)
    if not moved:
        return
    version = await store.context_version(conn, data.user_id)
    if (await deps.context_for(conn, data.user_id, version)).empty:
        return
    job = await jobs.start_job(
        deps, conn, user_id=data.user_id, item_id=data.item_id, reason="item_linked", caused_by=str(event.id)
    )
    log.info(
        "item linked late: re-categorizing its transactions", item_id=data.item_id, job_id=str(job.job_id)
    )
