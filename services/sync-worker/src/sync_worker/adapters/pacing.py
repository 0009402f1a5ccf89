"""Per-Item pacing of `/transactions/sync`: never more than `limit` calls of one Item in any `window`.

Plaid allows 50 `/transactions/sync` calls per Item per minute. A large backfill (200 pages for 100,000
transactions) would meet that limit at full speed and then live on 429s and backoff, whose attempts are
bounded: a run could fail for want of patience and start again from its first page. Pacing waits for the
window instead, so the run goes on at the rate Plaid allows.

A call occupies a slot from the moment it is sent until `window` after its answer came back (Plaid counted
it somewhere in between, so counting from the answer is never early), and the calls of a pipelined
pagination in flight occupy theirs. One worker holds an Item's lease while it syncs it, so its own record is
the whole truth but for a hand-over between workers within a window: a 429 then holds the Item's calls
for a whole window (`saturate`), on top of the reactive backoff.
"""

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

IN_FLIGHT_POLL = 0.05  # every slot held by a call still in flight: look again this soon


@dataclass
class _Calls:
    answered: deque[float] = field(default_factory=deque)  # when recent calls were answered
    in_flight: int = 0


class ItemPacer:
    """`limit` 0 paces nothing (a Plaid stand-in without limits, benchmarks)."""

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window = limit, window
        self._clock = clock
        self._items: dict[str, _Calls] = {}
        self._prune_at = 1024

    @asynccontextmanager
    async def call(self, item_id: str) -> AsyncIterator[float]:
        """Hold one of the Item's slots for the duration of a call; yields how long it waited for it."""
        if not self.limit:
            yield 0.0
            return
        waited = 0.0
        while (delay := self._delay(calls := self._items.setdefault(item_id, _Calls()))) > 0:
            await asyncio.sleep(delay)  # (looked up again after: pruning may have dropped the Item)
            waited += delay
        calls.in_flight += 1
        try:
            yield waited
        finally:
            calls.in_flight -= 1
            calls.answered.append(self._clock())
            if len(self._items) > self._prune_at:
                self._prune()

    def saturate(self, item_id: str) -> None:
        """Plaid answered 429 all the same (another worker used the Item's budget): hold its next calls
        for a whole window, after which every call Plaid counted has left it."""
        if self.limit:
            now = self._clock()
            self._items.setdefault(item_id, _Calls()).answered = deque([now] * self.limit)

    def _delay(self, calls: _Calls) -> float:
        now = self._clock()
        while calls.answered and calls.answered[0] <= now - self.window:
            calls.answered.popleft()
        if len(calls.answered) + calls.in_flight < self.limit:
            return 0.0
        if calls.answered:
            return calls.answered[0] + self.window - now
        return IN_FLIGHT_POLL

    def _prune(self) -> None:
        """Forget Items with nothing in flight and nothing answered within the window."""
        horizon = self._clock() - self.window
        self._items = {
            item: calls
            for item, calls in self._items.items()
            if calls.in_flight or (calls.answered and calls.answered[-1] > horizon)
        }
        self._prune_at = max(1024, 2 * len(self._items))
