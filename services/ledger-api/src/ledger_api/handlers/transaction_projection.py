"""TransactionCategorized -> the `transactions` row of its transaction_id, and a change-feed entry.

The upsert is guarded by version (an equal or older event changes nothing); a removal is a tombstone that
keeps the last state and the user's edits; the user_* columns are never written, except to carry a pending
transaction's edits to the posted one that names it (adapters.projection_store). Several events of one
transaction in a batch are applied in rounds (domain.versions.rounds), so each is applied and recorded.
"""

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncpg

from ..adapters.projection_store import Change, upsert_transactions
from ..domain.versions import rounds
from ..domain.views import transaction_view

if TYPE_CHECKING:
    from .projections import Read


async def project(
    conn: asyncpg.Connection, batch: Sequence["Read"], outcomes: Counter[tuple[str, str]]
) -> list[Change]:
    events = [r.envelope.data for r in batch]  # validated by their reader in projections.read
    changes: list[Change] = []
    stale = 0
    for round_ in rounds(events, key=lambda d: d["transaction_id"]):
        applied = await upsert_transactions(conn, round_)
        for data in round_:
            row = applied.get(data["transaction_id"])
            if row is None:
                stale += 1
                continue
            changes.append(
                Change(
                    entity="transaction",
                    entity_id=data["transaction_id"],
                    op=data["change"],
                    data=transaction_view(row),
                    user_id=row["user_id"],
                    item_id=row["item_id"],
                    version=data["version"],
                )
            )
    if batch:
        type_ = batch[0].envelope.type
        outcomes[(type_, "applied")] += len(changes)
        outcomes[(type_, "stale")] += stale
    return changes
