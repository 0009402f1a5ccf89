"""Items-by-status gauges on the real database: counted per status and time in it, never by id."""

import asyncpg
import pytest
from bankstream_common.metrics import create_registry
from link_svc.adapters.item_health import sample_item_health
from link_svc.metrics import Metrics

pytestmark = pytest.mark.integration

ROWS = [  # item, status, in it since (an interval ago)
    ("ok-1", "good", "1 minute"),
    ("ok-2", "good", "20 days"),
    ("repair-1", "login_required", "2 hours"),
    ("repair-2", "login_required", "3 days"),
    ("repair-3", "login_required", "9 days"),
]


async def test_items_are_counted_by_status_and_time_in_it(pool: asyncpg.Pool) -> None:
    for item, status, ago in ROWS:
        await pool.execute(
            "INSERT INTO items (item_id, user_id, status, updated_at) "
            "VALUES ($1, 'u', $2, now() - $3::text::interval)",
            item,
            status,
            ago,
        )
    metrics = Metrics(create_registry(runtime_collectors=False))
    await sample_item_health(pool, metrics)

    def items(status: str, since: str) -> float | None:
        return metrics.registry.get_sample_value("link_svc_items", {"status": status, "since": since})

    assert items("good", "under_1h") == 1
    assert items("good", "over_7d") == 1
    assert items("login_required", "under_1d") == 1
    assert items("login_required", "under_7d") == 1
    assert items("login_required", "over_7d") == 1
    assert items("error", "under_1h") == 0  # every status is exported, zero included
    exported = metrics.registry.collect()
    assert not any("repair-1" in str(s.labels) for f in exported for s in f.samples)
