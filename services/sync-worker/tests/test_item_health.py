"""Sync freshness gauges on the real database: Items counted per status and age bucket, never by id."""

import asyncpg
import pytest
from bankstream_common.metrics import create_registry
from sync_worker.adapters.item_health import sample_item_health
from sync_worker.metrics import Metrics

pytestmark = pytest.mark.integration

ROWS = [  # item, status, last synced (an interval ago, or never)
    ("fresh-1", "active", "5 minutes"),
    ("fresh-2", "active", "10 minutes"),
    ("stale", "active", "3 days"),
    ("never", "active", None),
    ("paused", "needs_attention", "2 days"),
    ("old", "needs_attention", "30 days"),
]


async def test_items_are_counted_by_status_and_freshness(pool: asyncpg.Pool) -> None:
    for item, status, ago in ROWS:
        await pool.execute(
            "INSERT INTO sync_items (item_id, status, last_synced_at) "
            "VALUES ($1, $2, CASE WHEN $3::text IS NULL THEN NULL ELSE now() - $3::interval END)",
            item,
            status,
            ago,
        )
    metrics = Metrics(create_registry(runtime_collectors=False))
    await sample_item_health(pool, metrics)

    def items(status: str, freshness: str) -> float | None:
        return metrics.registry.get_sample_value(
            "sync_worker_items", {"status": status, "freshness": freshness}
        )

    assert items("active", "under_1h") == 2
    assert items("active", "under_7d") == 1
    assert items("active", "never") == 1
    assert items("active", "over_7d") == 0  # set, not absent
    assert items("needs_attention", "under_7d") == 1
    assert items("needs_attention", "over_7d") == 1
    assert items("removed", "under_1h") == 0
    oldest = metrics.registry.get_sample_value(
        "sync_worker_items_oldest_sync_age_seconds", {"status": "active"}
    )
    assert 3 * 86400 <= oldest < 3 * 86400 + 600
    exported = metrics.registry.collect()
    assert not any("fresh-1" in str(s.labels) for f in exported for s in f.samples)  # no id in any label
