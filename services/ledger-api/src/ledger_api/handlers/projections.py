"""The projections' entry point: a batch of events (one partition's, in order) into the ledger, in the one
transaction the BatchConsumerRunner opened (the inbox claim is in it too).

    read each event with its reader (domain.consumed); an unknown type is ignored (tolerant reader), a
    known one whose data breaks its contract raises msgspec's ValidationError: the runner dead-letters it.
    A TransactionCategorized record arrives already read (`decode`, the runner's decoder: one pass)
    lock the batch's Items (adapters.projection_store.lock_items): exclusive for the Item events,
    shared for transactions and accounts, so an Item's user reaches every row projected before it
    apply consecutive events of one family together, then append their changes to the change feed
    (a transaction round appends its own, in the upsert's statement: adapters.view_sql)
"""

import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec
from bankstream_common.envelope import Envelope, decoder, refuse_other_version

from ..adapters.projection_store import lock_items, record_changes
from ..domain import consumed as ev
from ..metrics import Metrics
from . import item_projection, transaction_projection

# Events that write an Item's row (they take its lock exclusively); the others only read it.
ITEM_FAMILY = frozenset(
    {ev.ITEM_LINKED, ev.ITEM_STATUS_CHANGED, ev.ITEM_REMOVED, ev.SYNC_COMPLETED, ev.SYNC_FAILED}
)


# The runner's decoder: a TransactionCategorized record in one pass (domain.consumed.CategorizedEnvelope);
# anything else, and one whose data breaks the contract, as Envelope.from_json reads it (`read` below then
# refuses the latter with the reader's ValidationError: dead-lettered).
decode = decoder({ev.TRANSACTION_CATEGORIZED: ev.read_categorized})


@dataclass(frozen=True)
class Read:
    envelope: Envelope
    data: Any  # the reader model of envelope.type


def read(events: Sequence[Envelope]) -> tuple[list[Read], list[Envelope]]:
    """The events this service projects, read; and those of types it does not know (ignored)."""
    known, unknown = [], []
    for event in events:
        if isinstance(event, ev.CategorizedEnvelope):  # read as it was decoded
            known.append(Read(event, event.data))
            continue
        reader = ev.READERS.get(event.type)
        if reader is None:
            refuse_other_version(event.type, ev.READERS)  # a new version of a type read: dead-lettered
            unknown.append(event)
        else:
            known.append(Read(event, msgspec.convert(event.data, reader)))
    return known, unknown


@dataclass
class Projections:
    metrics: Metrics

    async def __call__(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        started = time.perf_counter()
        known, unknown = read(events)
        outcomes: Counter[tuple[str, str]] = Counter((e.type, "ignored") for e in unknown)
        await lock_items(
            conn,
            exclusive=[r.data.item_id for r in known if r.envelope.type in ITEM_FAMILY],
            shared=[r.data.item_id for r in known if r.envelope.type not in ITEM_FAMILY],
        )
        for family, run in itertools.groupby(known, key=_family):
            batch = list(run)
            if family == ev.TRANSACTION_CATEGORIZED:
                changes = await transaction_projection.project(conn, batch, outcomes)
            else:
                changes = await item_projection.project(conn, batch, outcomes)
            await record_changes(conn, changes)
        self.metrics.projection_batches.inc()
        self.metrics.projection_apply.observe(time.perf_counter() - started)
        now = time.time()  # the batch's statements are done; its commit follows in the runner
        for r in known:
            self.metrics.projection_lag.observe(now - r.envelope.time.timestamp())
        for (type_, outcome), n in outcomes.items():
            self.metrics.projected.labels(type_, outcome).inc(n)


def _family(r: Read) -> str:
    return ev.TRANSACTION_CATEGORIZED if r.envelope.type == ev.TRANSACTION_CATEGORIZED else "items"
