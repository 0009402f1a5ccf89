"""Sync freshness for operators: how many Items, per status, last synced how long ago; never an Item id.

    sync_worker_items{status, freshness}               Items per status and age bucket of `last_synced_at`
    sync_worker_items_oldest_sync_age_seconds{status}  the least recently synced Item of a status (0: none)

Sampled from `sync_items` by a `Periodic` (one GROUP BY over the table: keep the interval at a minute or
more on a large fleet). Every (status, bucket) pair is set, zero included, so a series never vanishes.
"""

import asyncpg
from bankstream_common.metrics import AGE_BUCKETS, age_bucket_sql

from ..metrics import Metrics

STATUSES = ("active", "needs_attention", "removed")

# the bucket expression is built from a constant column name (age_bucket_sql refuses anything else)
COUNTS = f"""SELECT status, {age_bucket_sql("last_synced_at")} AS freshness, count(*) AS n
             FROM sync_items GROUP BY 1, 2"""  # noqa: S608
OLDEST = """SELECT status, EXTRACT(EPOCH FROM now() - min(last_synced_at))::float8 AS age
            FROM sync_items WHERE last_synced_at IS NOT NULL GROUP BY status"""


async def sample_item_health(pool: asyncpg.Pool, metrics: Metrics) -> None:
    async with pool.acquire() as conn:
        counts = {(r["status"], r["freshness"]): r["n"] for r in await conn.fetch(COUNTS)}
        oldest = {r["status"]: r["age"] for r in await conn.fetch(OLDEST)}
    for status in STATUSES:
        for bucket in AGE_BUCKETS:
            metrics.items.labels(status, bucket).set(counts.get((status, bucket), 0))
        metrics.oldest_sync_age.labels(status).set(oldest.get(status) or 0.0)
