"""The page builder's process pool gives exactly what building in-process gives, reports a contract breach
instead of raising across the process boundary, survives a killed process, and leaves no orphan behind
when its parent is SIGKILLed."""

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid

from sync_worker.adapters.page_builder import PageBuilder
from sync_worker.domain.run import EVENT_ID_NAMESPACE, EventIds

from .test_transaction_events import TXN, page

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


def test_event_ids_are_uuid5_of_item_and_sequence() -> None:
    ids = EventIds("item-1")
    for n in (1, 41, 99_999, 123_456_789):
        assert ids(n) == str(uuid.uuid5(EVENT_ID_NAMESPACE, f"item-1/{n}"))


async def test_the_pool_builds_what_the_loop_would_and_reports_breaches() -> None:
    raw = page(added=[{**TXN, "transaction_id": f"t-{i}"} for i in range(50)])
    broken = page(added=[{**TXN, "date": "2026-13-45"}])
    inline, pool = PageBuilder(0), PageBuilder(1)
    await pool.start()
    try:
        here = await inline.build(raw, "item-1", "run-1", 41, 7, NOW)
        there = await pool.build(raw, "item-1", "run-1", 41, 7, NOW)
        assert there == here
        assert there.summary is not None and there.summary.added == 50 and len(there.events) == 52
        assert [seq for seq, *_ in there.events] == list(range(41, 93))
        refused = await pool.build(broken, "item-1", "run-1", 1, 0, NOW)
        assert refused.summary is None and refused.events == []
        assert refused.error is not None and "added.0.date" in refused.error
        assert "2026-13-45" not in refused.error  # where and why, never the value
    finally:
        pool.close()


async def test_a_killed_pool_process_is_replaced() -> None:
    pool = PageBuilder(1)
    await pool.start()
    try:
        for pid in list(pool._pool._processes):  # type: ignore[union-attr]
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.5)
        built = await pool.build(page(), "item-1", "run-1", 1, 0, NOW)
        assert built.summary is not None and built.summary.added == 1
    finally:
        pool.close()


PARENT = """
import asyncio, sys
from sync_worker.adapters.page_builder import PageBuilder
async def main():
    pool = PageBuilder(2)
    await pool.start()
    print(" ".join(str(p) for p in pool._pool._processes), flush=True)
    await asyncio.sleep(60)
if __name__ == "__main__":
    asyncio.run(main())
"""


def test_pool_processes_exit_when_their_parent_is_killed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        children = [int(p) for p in parent.stdout.readline().split()]
        assert len(children) == 2 and all(_alive(c) for c in children)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(c) for c in children)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
