"""Waiting between attempts, the one way: exponential backoff with full jitter, and a pause that honours stop.

    Backoff(base, cap, max_attempts).delay(n)   # uniform in [0, min(cap, base * 2**n)], plus `floor`
    await pause(stopping, seconds)              # True when `stopping` was set (the caller should return)
    await retry(fn, backoff=..., retry_on=(OSError,), stopping=event)  # fn() until it succeeds
    await interruptible(stopping, aw)           # aw, cancelled (and Stopped raised) once stopping is set

`retry` raises `Stopped` when `stopping` is set while it waits, and the last error once `max_attempts` are
used up (`until_stopped=True` on the call retries until stopped, e.g. "wait for PostgreSQL"). Where errors
call for different waits (a rate limit and an outage), `backoff` may be a function of the error.
"""

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    base: float = 0.1
    cap: float = 10.0
    max_attempts: int = 5
    floor: float = 0.0  # added to every pause (a rate limit is never retried at once)

    def delay(self, attempt: int) -> float:
        """The pause before retry number `attempt` (0 for the first retry)."""
        return self.floor + random.uniform(0, min(self.cap, self.base * (2 ** min(attempt, 30))))


class Stopped(Exception):
    """`retry` gave up because the caller is stopping."""


async def pause(stopping: asyncio.Event | None, seconds: float) -> bool:
    """Sleep `seconds` unless `stopping` is set first; True when stopping (None: a plain sleep, which only
    cancelling the caller interrupts)."""
    if stopping is None:
        await asyncio.sleep(max(seconds, 0.0))
        return False
    if stopping.is_set():
        return True
    try:
        await asyncio.wait_for(stopping.wait(), timeout=max(seconds, 0.0))
    except TimeoutError:
        return False
    return True


async def retry(
    fn: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff | Callable[[BaseException], Backoff],
    retry_on: tuple[type[BaseException], ...],
    stopping: asyncio.Event | None,
    until_stopped: bool = False,
    give_up: tuple[type[BaseException], ...] = (),
    on_retry: Callable[[BaseException, int], None] | None = None,
) -> T:
    """`await fn()` until it returns; errors in `retry_on` are retried after a backoff pause.

    `until_stopped` retries without limit (the delay stays capped); otherwise the error of the last of
    `backoff.max_attempts` attempts is raised. Errors in `give_up` are raised at once even when they are
    also in `retry_on` (a poison, a fatal configuration). `on_retry(error, attempt)` is called before each
    pause. A `backoff` function gives the backoff of the error just met: its pause and its attempt limit,
    counted over all the attempts made. `stopping` None: only cancelling the caller stops the waits.
    """
    attempt = 0
    while True:
        if stopping is not None and stopping.is_set():
            raise Stopped
        try:
            return await fn()
        except give_up:
            raise
        except retry_on as exc:
            policy = backoff if isinstance(backoff, Backoff) else backoff(exc)
            if not until_stopped and attempt + 1 >= policy.max_attempts:
                raise
            if on_retry is not None:
                on_retry(exc, attempt + 1)
            if await pause(stopping, policy.delay(attempt)):
                raise Stopped from exc
            attempt += 1


async def interruptible(stopping: asyncio.Event, aw: Awaitable[T]) -> T:
    """`await aw` unless `stopping` is set first: then `aw` is cancelled and `Stopped` raised.

    For a wait that must not outlive a stop (a Kafka send whose topic is missing waits for its metadata
    up to the request timeout)."""
    if stopping.is_set():
        if asyncio.iscoroutine(aw):
            aw.close()
        raise Stopped
    work = asyncio.ensure_future(aw)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait([work, stop], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        interrupted = not work.done()
        if interrupted:
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
    if interrupted:
        raise Stopped
    return work.result()
