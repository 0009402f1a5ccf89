"""The SQL of the change feed: a user's changes in commit order, never past what every reader can see.

Order is (txid, seq). A page returns only rows whose transaction id is below the oldest transaction still
running anywhere (`pg_snapshot_xmin(pg_current_snapshot())`): every transaction that could still commit a
row with a smaller txid is then finished, so no row can ever appear behind a position already served.
"""

import json
from typing import Any

import asyncpg

from ..domain.cursors import FeedPosition

PAGE = """SELECT txid::text AS txid, seq, entity, entity_id, item_id, op, version, data, at FROM changes
          WHERE user_id = $1 AND (txid, seq) > ($2::text::xid8, $3::bigint)
            AND txid < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY txid, seq LIMIT $4"""


async def changes_after(
    db: asyncpg.Pool | asyncpg.Connection, user_id: str, after: FeedPosition, limit: int
) -> list[dict[str, Any]]:
    rows = await db.fetch(PAGE, user_id, str(after.txid), after.seq, limit)
    return [{**dict(r), "txid": int(r["txid"]), "data": json.loads(r["data"])} for r in rows]
