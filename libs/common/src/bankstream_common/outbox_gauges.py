"""The outbox's backlog, sampled from PostgreSQL: how many events wait to be published, and how long the
oldest of them has waited.

    OutboxGauges(pool, metrics).sample()   # sets <svc>_outbox_unpublished_events and
                                           # <svc>_outbox_oldest_unpublished_age_seconds

The relay runs it as a `Periodic` next to its publishing loop (every `RelayConfig.sample_interval`), led or
not, so the gauges move while a large backlog drains instead of only at the end of a publishing pass. A
released batch (`outbox.release_batch`) counts as the rows it still holds; a staged batch nobody released
yet is not in the backlog (its writer has not committed it). The age is that of the lowest outbox row
still there, by its `created_at` (for a batch: when it was released).
"""

from datetime import UTC, datetime

import asyncpg

from .pipeline_metrics import PipelineMetrics

BACKLOG = """SELECT (SELECT count(*) FROM outbox WHERE batch_id IS NULL)
                    + (SELECT count(*) FROM outbox_batch_rows r JOIN outbox o ON o.batch_id = r.batch_id)
                    AS unpublished,
                    (SELECT created_at FROM outbox ORDER BY position LIMIT 1) AS oldest"""


class OutboxGauges:
    def __init__(self, pool: asyncpg.Pool, metrics: PipelineMetrics) -> None:
        self._pool, self._metrics = pool, metrics

    async def sample(self) -> tuple[int, float]:
        """Read the backlog now and set the gauges; returns (events, age of the oldest in seconds)."""
        row = await self._pool.fetchrow(BACKLOG)
        unpublished, oldest = int(row["unpublished"]), row["oldest"]
        age = max(0.0, (datetime.now(UTC) - oldest).total_seconds()) if oldest is not None else 0.0
        self._metrics.outbox_unpublished.set(unpublished)
        self._metrics.outbox_oldest_age.set(age)
        return unpublished, age
