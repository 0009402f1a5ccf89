"""Simulated time: starts at a given instant, flows with the wall clock (unless frozen), can be advanced."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta


class SimClock:
    def __init__(self, start: datetime | None = None, realtime: bool = True) -> None:
        start = start or datetime.now(UTC)
        self._start = start if start.tzinfo else start.replace(tzinfo=UTC)
        self._realtime = realtime
        self._origin = time.monotonic()
        self._offset = timedelta()

    def now(self) -> datetime:
        elapsed = timedelta(seconds=time.monotonic() - self._origin) if self._realtime else timedelta()
        return self._start + self._offset + elapsed

    def today(self) -> date:
        return self.now().date()

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta():
            raise ValueError("the simulated clock only moves forward")
        self._offset += delta
        return self.now()
