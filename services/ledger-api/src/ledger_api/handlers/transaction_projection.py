"""TransactionCategorized -> the `transactions` row of its transaction_id, and a change-feed entry.

The upsert is guarded by version (an equal or older event changes nothing); a removal is a tombstone that
keeps the last state and the user's edits; the user_* columns are never written, except to carry a pending
transaction's edits to the posted one that names it (adapters.projection_store). Several events of one
transaction in a batch are applied in rounds (domain.versions.rounds), so each is applied and recorded; each
round's change-feed rows are written by its upsert statement, their JSON built by PostgreSQL
(adapters.view_sql), so no row comes back to Python. The events go to PostgreSQL as the records' own
bytes (domain.consumed.CategorizedEnvelope.raw): nothing is serialized again.
"""

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncpg
from pydantic_core import to_json

from ..adapters.projection_store import Change, upsert_transactions
from ..domain.consumed import CategorizedEnvelope
from ..domain.versions import rounds

if TYPE_CHECKING:
    from .projections import Read


async def project(
    conn: asyncpg.Connection, batch: Sequence["Read"], outcomes: Counter[tuple[str, str]]
) -> list[Change]:
    """Apply the batch, round by round; each round's change-feed rows are written by its upsert (in SQL,
    adapters.view_sql), so none are left for the caller to record."""
    applied = 0
    for round_ in rounds(batch, key=lambda r: r.data.transaction_id):
        applied += await upsert_transactions(conn, [_json(r) for r in round_])
    if batch:
        type_ = batch[0].envelope.type
        outcomes[(type_, "applied")] += applied
        outcomes[(type_, "stale")] += len(batch) - applied
    return []


def _json(r: "Read") -> bytes:
    """The event as JSON with its `data` as it arrived (validated by its reader in projections.read)."""
    if isinstance(r.envelope, CategorizedEnvelope):
        return r.envelope.raw
    return to_json({"data": r.envelope.data})
