"""Delivery as Plaid does it: POST the JSON body, signed; anything but a 200 within the timeout is a
failure, retried after 30 s and then each delay 4x the previous, for up to 24 h (all delays multiplied by
`time_scale`).
On demand, each webhook is sent twice (`duplicate`) or webhooks are held in pairs and released newest first
(`out_of_order`)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from typing import Any

import httpx

from .events import SCHEMAS
from .signing import KeyRing

log = logging.getLogger("plaid_emulator.webhooks")

FIRST_RETRY = 30.0
BACKOFF = 4.0
GIVE_UP_AFTER = 24 * 3600.0
# Deliveries on the wire at once. The rest wait their turn here, where waiting is cheap: queued inside
# httpx's connection pool, hundreds of them (a receiver slower than the webhook rate) cost the pool's
# bookkeeping time quadratic in their number, on the event loop that also serves the Plaid API, and
# time out there before they are even sent.
MAX_IN_FLIGHT = 32


def retry_delays() -> list[float]:
    delays, delay, total = [], FIRST_RETRY, 0.0
    while total + delay <= GIVE_UP_AFTER:
        delays.append(delay)
        total += delay
        delay *= BACKOFF
    return delays


class Dispatcher:
    def __init__(self, keys: KeyRing, time_scale: float = 1.0, timeout: float = 10.0) -> None:
        self.keys = keys
        self.time_scale = time_scale
        self.timeout = timeout
        self.duplicate = False
        self.out_of_order = False
        self.attempts: list[dict[str, Any]] = []
        self._held: list[tuple[str, bytes, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    def send(self, url: str | None, payload: dict[str, Any]) -> None:
        if (payload["webhook_type"], payload["webhook_code"]) not in SCHEMAS:
            raise ValueError(
                f"not a webhook the emulator sends: {payload['webhook_type']} {payload['webhook_code']}"
            )
        if not url:
            return
        body = json.dumps(payload, indent=2).encode()
        if self.out_of_order:
            self._held.append((url, body, payload))
            if len(self._held) >= 2:
                self.flush()
            return
        self._start(url, body, payload)

    def flush(self) -> int:
        """Release what is held, newest first, one after the other (so the receiver sees that order)."""
        held, self._held = self._held, []
        if held:
            self._spawn(self._deliver_in_order(list(reversed(held))))
        return len(held)

    async def _deliver_in_order(self, held: list[tuple[str, bytes, dict[str, Any]]]) -> None:
        for url, body, payload in held:
            for _ in range(2 if self.duplicate else 1):
                await self._deliver(next(self._ids), url, body, payload)

    def _start(self, url: str, body: bytes, payload: dict[str, Any]) -> None:
        for _ in range(2 if self.duplicate else 1):
            self._spawn(self._deliver(next(self._ids), url, body, payload))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: int, url: str, body: bytes, payload: dict[str, Any]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(limits=httpx.Limits(max_connections=MAX_IN_FLIGHT))
        for attempt, delay in enumerate([*retry_delays(), None], start=1):
            headers = {"Content-Type": "application/json", "Plaid-Verification": self.keys.sign(body)}
            record = {
                "delivery": delivery,
                "attempt": attempt,
                "url": url,
                "at": time.time(),
                "webhook_type": payload.get("webhook_type"),
                "webhook_code": payload.get("webhook_code"),
                "item_id": payload.get("item_id"),
                "status": None,
                "error": None,
            }
            try:
                async with self._in_flight:  # the timeout starts once the request may go
                    record["at"] = time.time()
                    response = await self._client.post(
                        url, content=body, headers=headers, timeout=self.timeout
                    )
                record["status"] = response.status_code
            except httpx.HTTPError as exc:
                record["error"] = type(exc).__name__
            self.attempts.append(record)
            log.info(
                "webhook %s/%s delivery=%s attempt=%s status=%s",
                record["webhook_type"],
                record["webhook_code"],
                delivery,
                attempt,
                record["status"] or record["error"],
            )
            if record["status"] == 200 or delay is None:
                return
            await asyncio.sleep(delay * self.time_scale)

    def pending_deliveries(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.aclose()
