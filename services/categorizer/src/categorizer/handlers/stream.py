"""The enriched stream: each TransactionChanged becomes exactly one TransactionCategorized (a stale one
none, below), written to the outbox in the transaction that records the transaction's new state (the
consumer runner's inbox makes a redelivery a no-op). Records of one account arrive in order on one
partition and are handled in order, so their outputs leave in the same order. A change whose sync_sequence
is not above the one stored for its transaction (a dead-letter topic replayed, events out of order) is
stale: it changes nothing and emits nothing (adapters.store.upsert_many), and is still recorded as consumed.

An Item not yet known (its ItemLinked not seen) is categorized without user context (user_id null); when
its ItemLinked arrives, its transactions learn their user and, if that user has rules or learned keys, a
job re-categorizes them (converges). The Item's advisory lock (shared here, exclusive in ItemLinked)
keeps the two from interleaving; the user's context row read FOR SHARE keeps a rule change from
interleaving with a decision.

The consumer runner hands over the records of a partition fetched together (`on_events`): their
TransactionChanged are decided and stored in bulk in its one transaction (a transaction changed twice in
the batch gets two versions, in order), with their outputs in the same order.
"""

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
import structlog
from bankstream_common import outbox
from bankstream_common.envelope import Envelope, decoder, refuse_other_version
from bankstream_common.errors import PermanentError

from ..adapters import store
from ..domain import events as ev
from ..domain.decide import NO_USER, decide_keyed
from . import corrections, jobs
from .context import Deps, category_dict, txn_of_change

log = structlog.get_logger(__name__)

IGNORED_PREFIXES = ("bankstream.item.",)  # other Item events (status changes) say nothing we need
READ = (ev.TRANSACTION_CHANGED, ev.ITEM_LINKED, ev.ITEM_REMOVED, ev.CATEGORY_OVERRIDDEN)


# The consumer runner's decoder: a TransactionChanged record in one msgspec pass (domain.events.read_changed);
# anything else, and one whose data breaks the contract, as Envelope.from_json reads it (the reader below
# then refuses the latter with its ValidationError: dead-lettered).
decode = decoder({ev.TRANSACTION_CHANGED: ev.read_changed})


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
            refuse_other_version(other, READ)  # another version of ItemLinked or ItemRemoved: dead-lettered
        case other:
            raise PermanentError(f"categorizer does not know the event type {other}")


async def on_transaction_changed(deps: Deps, conn: asyncpg.Connection, event: Envelope) -> None:
    await on_transactions_changed(deps, conn, [event])


async def on_events(deps: Deps, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
    """Several events in one transaction (the batch consumer runner's unit of work): runs of
    TransactionChanged in bulk, anything else one by one, in order."""
    run: list[Envelope] = []
    for event in events:
        if event.type == ev.TRANSACTION_CHANGED:
            run.append(event)
            continue
        if run:
            await on_transactions_changed(deps, conn, run)
            run = []
        await on_event(deps, conn, event)
    if run:
        await on_transactions_changed(deps, conn, run)


async def on_transactions_changed(deps: Deps, conn: asyncpg.Connection, events: list[Envelope]) -> None:
    changes = [
        e.data if isinstance(e, ev.ChangedEnvelope) else msgspec.convert(e.data, ev.TransactionChangedIn)
        for e in events
    ]
    items = [c.item_id for c in changes]
    await store.lock_items_shared(conn, items)
    owners = await store.owners_of(conn, items)
    contexts = {user: await deps.context_for(conn, user, version) for user, version in set(owners.values())}
    rows: list[store.Row] = []
    outs: list[dict[str, Any]] = []
    sources: list[str | None] = []
    now = datetime.now(UTC)
    decided_at = now.isoformat()
    for event, data in zip(events, changes, strict=True):
        owner = owners.get(data.item_id)
        user_id = owner[0] if owner else None
        state: bytes | None = None
        category: dict[str, Any] | None = None
        key = None
        source = None
        if data.change != "removed":
            ctx = contexts[user_id] if user_id else NO_USER
            decision, key = decide_keyed(txn_of_change(data), ctx, deps.model, deps.model_name)
            source = decision.source
            state = data.state_json()  # serialized once: stored, and published as it is
            category = category_dict(decision)
        sources.append(source)
        rows.append(
            (
                data.transaction_id,
                data.account_id,
                data.item_id,
                user_id,
                key,
                state,
                category,
                data.sync_sequence,
            )
        )
        outs.append(
            {
                "change": data.change,
                "transaction_id": data.transaction_id,
                "account_id": data.account_id,
                "item_id": data.item_id,
                "user_id": user_id,
                "version": 0,  # set below, once stored
                "sync_sequence": data.sync_sequence,
                "caused_by": str(event.id),
                "transaction": None if state is None else msgspec.Raw(state),
                "category": category,
                "decided_at": decided_at,
            }
        )
    versions = await _store_in_rounds(conn, rows)
    applied = Counter(s for s, v in zip(sources, versions, strict=True) if s is not None and v is not None)
    for source, n in applied.items():
        deps.metrics.decisions.labels(source, "stream").inc(n)
    if stale := versions.count(None):
        log.info("stale transaction changes skipped", count=stale)
    topic = deps.topic(ev.TOPIC_CATEGORIZED)
    time = now.isoformat().replace("+00:00", "Z")
    encoded: list[outbox.EncodedRow] = []
    for out, version in zip(outs, versions, strict=True):
        if version is None:
            continue
        out["version"] = version
        event_id = uuid.uuid4()
        payload = envelope_json(event_id, out, time)
        encoded.append((event_id, topic, out["account_id"], ev.TRANSACTION_CATEGORIZED, payload))
    await outbox.enqueue_encoded(conn, encoded)


def envelope_json(event_id: uuid.UUID, data: dict[str, Any], time: str) -> bytes:
    """A TransactionCategorized envelope serialised straight from a dict, in exactly `Envelope`'s shape
    (as the sync-worker builds its events; a test holds the two together), from data built above (its
    shape is the model's: the contract tests check it; the state already JSON, `msgspec.Raw`), without
    validating it again."""
    return _encode(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": ev.SOURCE,
            "type": ev.TRANSACTION_CATEGORIZED,
            "time": time,
            "subject": data["transaction_id"],
            "datacontenttype": "application/json",
            "data": data,
        }
    )


_encode = msgspec.json.Encoder().encode


async def _store_in_rounds(conn: asyncpg.Connection, rows: list[store.Row]) -> list[int | None]:
    """Store rows in order; a transaction changed twice in one batch goes in a later statement, so each
    change gets its own version (and an older one after a newer is stale). Returns each row's new version,
    None for a stale one."""
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        n = seen.get(row[0], 0)
        seen[row[0]] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(i)
    versions: list[int | None] = [None] * len(rows)
    for indexes in rounds:
        stored = await store.upsert_many(conn, [rows[i] for i in indexes])
        for i in indexes:
            versions[i] = stored.get(rows[i][0])
    return versions


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
