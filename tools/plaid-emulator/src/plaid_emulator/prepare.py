"""Generating Items' histories ahead, while they are NOT_READY, as Plaid stays NOT_READY while it pulls an
institution's data: once an Item is due, at once for small Items and whenever the caller waits (`ready`,
clock advance), otherwise a slice at a time on the event loop, so that other requests go through meanwhile.
Either way the Item reports ready only once its data exists, and its first walk is served from memory.

The garbage collector is paused while a history is generated (only new, acyclic objects: scanning them
again and again would add a third to the time); once it exists, `Ledger.settle` exempts it from collection
or collects once, while the Item is still NOT_READY, rather than in the middle of its first pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Iterable, Iterator

from .ledger import Ledger

log = logging.getLogger("plaid_emulator")
INLINE = 10_000  # Items up to this many transactions are generated at once, when due
SLICE = 0.01  # seconds of generation at a time in the background


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def prepare_now(ledger: Ledger, wait: bool) -> bool:
    """Generate `ledger`'s history now if it is small or the caller waits, else one slice of it (the
    background does the rest; the slice only matters if no background runs). True once it exists."""
    if not ledger.prepared:
        with collector_paused():
            ledger.prepare(None if wait or ledger.count <= INLINE else SLICE)
    if ledger.prepared:
        ledger.settle()
    return ledger.prepared


class Background:
    def __init__(self) -> None:
        self.wanted = asyncio.Event()  # a history waits to be generated

    async def run(
        self, pending: Callable[[], Iterable[tuple[str, Ledger]]], done: Callable[[str], None]
    ) -> None:
        """Generate the histories `pending()` lists, a slice each in turn; `done(key)` when one exists."""
        while True:
            await self.wanted.wait()
            self.wanted.clear()
            with collector_paused():  # across slices too: requests in between would scan the new objects
                while busy := list(pending()):
                    for key, ledger in busy:
                        if ledger.prepare(seconds=SLICE):
                            ledger.settle()
                            try:
                                done(key)
                            except Exception:
                                log.exception("housekeeping %s failed", key)
                        await asyncio.sleep(0)
