"""Items by status for operators: how many, and for how long they have been in it; never an Item id.

    link_svc_items{status, since}   Items per status and age bucket of their last status change (`updated_at`,
                                    which only a status change moves)

An Item stuck in `login_required` waits for its user (update mode); many of them for days point at a
broken repair flow or an institution-wide change. Sampled from `items` by a `Periodic`; every
(status, bucket) pair is set, zero included, so a series never vanishes.
"""

import asyncpg
from bankstream_common.metrics import AGE_BUCKETS, age_bucket_sql

from ..domain.item_state import ItemStatus
from ..metrics import Metrics

# the bucket expression is built from a constant column name (age_bucket_sql refuses anything else)
COUNTS = f"SELECT status, {age_bucket_sql('updated_at')} AS since, count(*) AS n FROM items GROUP BY 1, 2"  # noqa: S608


async def sample_item_health(pool: asyncpg.Pool, metrics: Metrics) -> None:
    counts = {(r["status"], r["since"]): r["n"] for r in await pool.fetch(COUNTS)}
    for status in ItemStatus:
        for bucket in AGE_BUCKETS:
            metrics.items.labels(status.value, bucket).set(counts.get((status.value, bucket), 0))
