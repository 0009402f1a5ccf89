"""A run that crashes (an error no SyncError stands for: a defect, the database failing mid-run) holds its
Item back with the run backoff instead of letting the scheduler claim it again at once, counts the crash
where an operator sees it, and a run that then succeeds clears it. The real worker, Kafka and PostgreSQL;
Plaid is a scripted fake over HTTP; link-svc is a token provider that breaks."""

import asyncio
from typing import Any

import pytest
from bankstream_common.testing.waiting import true, wait_until

from .fake_plaid import page
from .harness import EmulatorTokens
from .test_bad_plaid_answers import worker_against
from .test_transaction_events import TXN

pytestmark = pytest.mark.integration


class BrokenTokens(EmulatorTokens):
    """A token provider with a defect while `broken`: it raises what no adapter translates."""

    def __init__(self) -> None:
        super().__init__()
        self.broken, self.calls = True, 0

    async def access_token(self, item_id: str) -> str:
        self.calls += 1
        if self.broken:
            raise RuntimeError("a defect")
        return await super().access_token(item_id)


async def test_a_crashing_run_backs_its_item_off_and_is_counted_and_a_success_resets_it(
    database_url: str, kafka_bootstrap_servers: str, uid: str
) -> None:
    def answer(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        return 200, page([TXN], "c1")

    tokens = BrokenTokens()
    # run backoff: 0.2 s base, 1 s cap
    async with worker_against(answer, database_url, kafka_bootstrap_servers, uid, tokens) as (worker, _):
        await worker.link("item-1", "access-sandbox-item-1")
        await wait_until(lambda: true(tokens.calls >= 1))
        await asyncio.sleep(3.0)
        # without a backoff the scheduler claimed it again as soon as each crash released it
        assert 3 <= tokens.calls <= 10, tokens.calls
        item = await worker.item("item-1")
        assert item["failed_runs"] >= 3 and item["last_error_code"] == "CRASHED"
        assert item["not_before"] is not None and item["wanted_at"] is not None
        crashed = worker.container.metrics.registry.get_sample_value(
            "sync_worker_sync_runs_total", {"outcome": "crashed", "trigger": "item_linked"}
        )
        assert crashed is not None and crashed >= 3
        assert await worker.runs("item-1") == []

        tokens.broken = False
        (run,) = await worker.wait_runs("item-1", 1, timeout=10)
        assert run["outcome"] == "completed"
        item = await worker.item("item-1")
        assert (item["failed_runs"], item["not_before"], item["last_error_code"]) == (0, None, None)
