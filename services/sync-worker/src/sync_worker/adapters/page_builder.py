"""Where pages are parsed and turned into events: in worker processes, off the event loop's GIL.

Parsing a 500-transaction page and serialising its 500 envelopes is ~10 ms of pure CPU, the largest
share of a run. In the event loop's process it also stalls the loop (Plaid calls, staging, the relay);
a thread would fight the loop for the GIL. So `build_page` runs in a small process pool: the loop sends
the raw bytes and gets back the page's summary and ready-to-stage event bytes, while it fetches the
next page and stages the previous one. `processes=0` builds in-process (tests, one-core hosts).

The pool's processes are spawned (not forked from a process with threads and an event loop), ignore
Ctrl-C (the parent shuts them down), and exit on their own if the parent dies without shutting them
down (SIGKILL): a watcher thread notices they were re-parented.
"""

import asyncio
import datetime as dt
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import structlog

from ..domain.run import BuiltPage, build_page

log = structlog.get_logger(__name__)


class PageBuilder:
    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor | None:
        if self._processes <= 0:
            return None
        return ProcessPoolExecutor(
            self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )

    @property
    def depth(self) -> int:
        """How many pages may be in the builder at once: one per process plus one queued."""
        return self._processes + 1 if self._processes > 0 else 1

    async def start(self) -> None:
        """Start every process now (a spawn costs ~1 s), not during the first run."""
        if self._pool is not None:
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(self._pool, _ready) for _ in range(self._processes)))

    async def build(
        self,
        raw: bytes,
        item_id: str,
        run_id: str,
        first_sequence: int,
        first_position: int,
        now: dt.datetime,
    ) -> BuiltPage:
        args = (raw, item_id, run_id, first_sequence, first_position, now)
        if self._pool is None:
            return build_page(*args)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, build_page, *args)
        except BrokenProcessPool:
            # a process died (OOM killer, a signal): replace the pool, try this page once more
            log.warning("page builder pool broken, replacing it")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            assert self._pool is not None
            return await loop.run_in_executor(self._pool, build_page, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _ready() -> bool:
    return True


def _init_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)  # the parent is gone: nobody will ever send work or a shutdown

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
