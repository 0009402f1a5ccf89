"""The pacer keeps Plaid's sliding-window limits in PostgreSQL: per Item, counting calls in flight, and per
client across workers; a worker restarted (or another one) sees the calls already made."""

import asyncio
import time

import asyncpg
import pytest
from sync_worker.adapters.pacing import SyncCallPacer

pytestmark = pytest.mark.integration
LIMIT, WINDOW = 3, 0.5


def pacer(
    pool: asyncpg.Pool, per_item: int = LIMIT, per_client: int = 0, window: float = WINDOW
) -> SyncCallPacer:
    return SyncCallPacer(pool, per_item=per_item, per_client=per_client, window=window, call_timeout=5.0)


async def test_no_call_starts_while_limit_calls_are_in_flight_or_answered_within_the_window(
    pool: asyncpg.Pool,
) -> None:
    paced = pacer(pool)
    calls: list[tuple[float, float, float]] = []  # (started, answered, waited)

    async def call(duration: float) -> None:
        async with paced.call("item-1") as waited:
            started = time.monotonic()
            await asyncio.sleep(duration)
            calls.append((started, time.monotonic(), waited))

    async def worker(queue: list[float]) -> None:  # three at a time, as a pipelined pagination fetches
        while queue:
            await call(queue.pop())

    queue = [0.02, 0.05, 0.01] * 3
    await asyncio.gather(*(worker(queue) for _ in range(3)))
    assert len(calls) == 9
    for started, _, _ in calls:
        busy = [c for c in calls if c[0] < started and c[1] > started - WINDOW]
        assert len(busy) < LIMIT, (started, busy)
    assert sum(1 for c in calls if c[2] > 0) >= len(calls) - 2 * LIMIT  # the rest waited for slots


async def test_a_restarted_worker_sees_the_calls_of_the_window_and_waits(pool: asyncpg.Pool) -> None:
    before = pacer(pool)
    for _ in range(LIMIT):
        async with before.call("item-1") as waited:
            assert waited == 0.0
    after = pacer(pool)  # a new process: nothing in memory
    t0 = time.monotonic()
    async with after.call("item-1") as waited:
        assert waited > 0.3
    assert time.monotonic() - t0 >= 0.3
    async with after.call("item-2") as waited:
        assert waited == 0.0  # Items are paced apart


async def test_the_clients_limit_holds_across_workers_and_items(pool: asyncpg.Pool) -> None:
    one, two = pacer(pool, per_item=0, per_client=4), pacer(pool, per_item=0, per_client=4)
    for i in range(2):
        async with one.call(f"a-{i}") as w1, two.call(f"b-{i}") as w2:
            assert (w1, w2) == (0.0, 0.0)
    async with two.call("c-0") as waited:  # a fifth call of the client, on a fifth Item
        assert waited > 0.3


async def test_a_429_holds_the_items_calls_for_a_whole_window_and_zero_limits_pace_nothing(
    pool: asyncpg.Pool,
) -> None:
    paced = pacer(pool, per_item=50)
    async with paced.call("item-1") as waited:
        assert waited == 0.0
    await paced.saturate("item-1")
    async with paced.call("item-1") as waited:
        assert 0.35 < waited <= WINDOW + 0.1
    async with paced.call("item-2") as waited:
        assert waited == 0.0
    unpaced = pacer(pool, per_item=0, per_client=0)
    for _ in range(20):
        async with unpaced.call("item-1") as waited:
            assert waited == 0.0
    assert await pool.fetchval("SELECT count(*) FROM plaid_sync_calls WHERE item_id = 'item-1'") == 3
