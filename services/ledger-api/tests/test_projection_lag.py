"""The ledger's freshness as an operator reads it: `ledger_api_projection_lag_seconds`, from an event's time
to its projection, through bootstrap() on the real broker and database."""

import datetime as dt
import uuid

import pytest
from bankstream_common.envelope import Envelope
from ledger_api.domain import consumed as ev

from .projection_harness import item_linked, running_ledger

pytestmark = pytest.mark.integration


async def test_projection_lag_is_the_age_of_the_event_when_projected(
    database_url: str, kafka_bootstrap_servers: str
) -> None:
    async with running_ledger(database_url, kafka_bootstrap_servers) as ledger:
        uid = uuid.uuid4().hex[:8]
        linked = item_linked(f"item-{uid}", f"user-{uid}", [f"acc-{uid}"])
        emitted = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)  # an event that waited two minutes
        late = Envelope.new(
            source=linked.source, type=linked.type, subject=linked.subject, data=linked.data, time=emitted
        )
        await ledger.send(ev.TOPIC_ITEMS, late.subject, late)
        await ledger.processed(late)

        registry = ledger.container.metrics.registry
        count = registry.get_sample_value("ledger_api_projection_lag_seconds_count")
        total = registry.get_sample_value("ledger_api_projection_lag_seconds_sum")
        within_a_minute = registry.get_sample_value(
            "ledger_api_projection_lag_seconds_bucket", {"le": "60.0"}
        )
        assert count == 1
        assert 120 <= total < 180
        assert within_a_minute == 0
