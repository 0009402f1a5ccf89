"""Waiting in tests for something a user would notice: a condition (never a sleep) and events on a topic.

await wait_until(lambda: pool.fetchval("SELECT count(*) = 3 FROM t"))   # polls until truthy
events = await read_events(kafka, "t.bankstream.items", at_least=2)    # from the topic's start
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer

from ..envelope import Envelope

T = TypeVar("T")


async def wait_until(check: Callable[[], Awaitable[T]], *, timeout: float = 20.0, every: float = 0.05) -> T:  # noqa: ASYNC109
    """Poll `check` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(every)


async def true(value: bool) -> bool:
    """`wait_until(lambda: true(flag))` for a plain flag."""
    return value


async def read_events(kafka: str, topic: str, *, at_least: int, timeout: float = 30.0) -> list[Envelope]:  # noqa: ASYNC109
    """Every envelope on `topic` from its start: at least `at_least` (or what came by the deadline), plus
    whatever else arrives within a short settle time (so a test also sees an event that should not be)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    out: list[Envelope] = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < at_least and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                out.extend(Envelope.from_json(r.value) for r in records)
        for records in (await consumer.getmany(timeout_ms=300)).values():
            out.extend(Envelope.from_json(r.value) for r in records)
    finally:
        await consumer.stop()
    return out
