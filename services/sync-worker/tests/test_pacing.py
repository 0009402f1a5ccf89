"""The per-Item pacer keeps Plaid's sliding-window limit, counting calls in flight."""

import asyncio
import time

from sync_worker.adapters.pacing import ItemPacer

LIMIT, WINDOW = 3, 0.3


async def test_no_call_starts_while_limit_calls_are_in_flight_or_answered_within_the_window() -> None:
    pacer = ItemPacer(LIMIT, WINDOW)
    calls: list[tuple[float, float, float]] = []  # (started, answered, waited)

    async def call(duration: float) -> None:
        async with pacer.call("item-1") as waited:
            started = time.monotonic()
            await asyncio.sleep(duration)
            calls.append((started, time.monotonic(), waited))

    async def pipeline() -> None:  # three at a time, as a pipelined pagination fetches ahead
        queue = [0.02, 0.05, 0.01] * 4
        await asyncio.gather(*(worker(queue) for _ in range(3)))

    async def worker(queue: list[float]) -> None:
        while queue:
            await call(queue.pop())

    await asyncio.gather(pipeline(), call(0.01))
    assert len(calls) == 13
    for started, _, _ in calls:
        busy = [c for c in calls if c[0] < started and c[1] > started - WINDOW]
        assert len(busy) < LIMIT, (started, busy)
    assert sum(1 for c in calls if c[2] == 0) == LIMIT  # only the first LIMIT calls went at once


async def test_items_are_paced_apart_and_a_zero_limit_paces_nothing() -> None:
    pacer = ItemPacer(1, 10.0)
    async with pacer.call("item-1") as first, pacer.call("item-2") as second:
        assert (first, second) == (0.0, 0.0)  # one slot each
    unpaced = ItemPacer(0, 10.0)
    for _ in range(100):
        async with unpaced.call("item-1") as waited:
            assert waited == 0.0


async def test_idle_items_are_forgotten() -> None:
    now = [0.0]
    pacer = ItemPacer(50, 60.0, clock=lambda: now[0])
    for i in range(3000):
        now[0] = i  # one call a second: all but the last minute's Items are idle
        async with pacer.call(f"item-{i}"):
            pass
    assert len(pacer._items) <= 2048
    assert "item-2999" in pacer._items


async def test_a_429_all_the_same_holds_the_items_calls_for_a_whole_window() -> None:
    pacer = ItemPacer(50, 0.2)
    async with pacer.call("item-1") as waited:
        assert waited == 0.0
    pacer.saturate("item-1")
    async with pacer.call("item-1") as waited:
        assert 0.15 < waited <= 0.2
    async with pacer.call("item-2") as waited:
        assert waited == 0.0
