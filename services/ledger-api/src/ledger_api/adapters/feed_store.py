"""The SQL of the change feed: a user's changes in commit order, never past what every reader can see.

Order is (txid, seq). A page returns only rows whose transaction id is below the oldest transaction still
running anywhere (`pg_snapshot_xmin(pg_current_snapshot())`): every transaction that could still commit a
row with a smaller txid is then finished, so no row can ever appear behind a position already served.
"""

from typing import Any

import asyncpg
import orjson

from ..domain.cursors import FeedPosition

# (the txid goes out as text: asyncpg has no xid8 codec; ordering by the text would be wrong: "10" < "9")
PAGE = """SELECT c.txid::text AS position_txid, c.seq, c.entity, c.entity_id, c.item_id, c.op, c.version,
                 c.data, c.at
          FROM changes c
          WHERE c.user_id = $1 AND (c.txid, c.seq) > ($2::text::xid8, $3::bigint)
            AND c.txid < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY c.txid, c.seq LIMIT $4"""


async def changes_after(
    db: asyncpg.Pool | asyncpg.Connection, user_id: str, after: FeedPosition, limit: int
) -> list[dict[str, Any]]:
    rows = await db.fetch(PAGE, user_id, str(after.txid), after.seq, limit)
    out = []
    for r in rows:
        row = dict(r)
        row["txid"] = int(row.pop("position_txid"))
        row["data"] = orjson.Fragment(r["data"])  # the stored JSON, passed through as it is
        out.append(row)
    return out
