"""The one supervisor and the one retry helper: prepare is retried until it answers and its workers then
run; a fatal error, a worker that ends on its own and a stop each end it as a user of the service expects."""

import asyncio
import itertools

import pytest
from bankstream_common.backoff import Backoff, Stopped, interruptible, pause, retry
from bankstream_common.runtime import Periodic, Supervisor, Worker

FAST = Backoff(base=0.01, cap=0.02, max_attempts=3)


class Loop:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.running, self._stop = fail, asyncio.Event(), asyncio.Event()

    async def run(self) -> None:
        self.running.set()
        if self.fail:
            raise RuntimeError("lost its mind")
        await self._stop.wait()

    def stop(self) -> None:
        self._stop.set()


async def test_prepare_is_retried_until_it_answers_then_the_workers_run_until_stopped() -> None:
    calls, loop = [], Loop()

    async def prepare() -> list[Worker]:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("database not up yet")
        return [loop]

    supervisor = Supervisor(prepare, backoff=FAST)
    task = asyncio.create_task(supervisor.run())
    await asyncio.wait_for(loop.running.wait(), 5)
    assert len(calls) == 3 and supervisor.ready.is_set()
    supervisor.stop()
    await asyncio.wait_for(task, 5)


async def test_a_fatal_error_in_prepare_is_raised_at_once() -> None:
    calls = []

    async def prepare() -> list[Worker]:
        calls.append(1)
        raise LookupError("vault key k2 is missing")

    with pytest.raises(LookupError, match="k2"):
        await asyncio.wait_for(Supervisor(prepare, backoff=FAST, fatal=(LookupError,)).run(), 5)
    assert calls == [1]


async def test_a_worker_that_fails_stops_the_others_and_its_failure_is_raised() -> None:
    healthy = Loop()

    async def prepare() -> list[Worker]:
        return [healthy, Loop(fail=True)]

    with pytest.raises(RuntimeError, match="lost its mind"):
        await asyncio.wait_for(Supervisor(prepare, backoff=FAST).run(), 5)
    assert healthy._stop.is_set()


async def test_stop_while_preparing_returns_without_running_anything() -> None:
    async def prepare() -> list[Worker]:
        raise OSError("kafka away")

    supervisor = Supervisor(prepare, backoff=Backoff(base=5, cap=5))
    task = asyncio.create_task(supervisor.run())
    await asyncio.sleep(0.05)
    supervisor.stop()
    await asyncio.wait_for(task, 2)
    assert not supervisor.ready.is_set()


async def test_periodic_calls_again_after_a_failure_and_stops_when_asked() -> None:
    calls: list[int] = []
    third = asyncio.Event()

    async def tick() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("transient")
        if len(calls) == 3:
            third.set()

    periodic = Periodic("tick", tick, 0.01, retry_on=(OSError,))
    task = asyncio.create_task(periodic.run())
    await asyncio.wait_for(third.wait(), 2)
    periodic.stop()
    await asyncio.wait_for(task, 2)


async def test_retry_gives_up_after_max_attempts_and_raises_the_last_error() -> None:
    attempts: list[int] = []

    async def flaky() -> int:
        attempts.append(1)
        raise OSError(f"attempt {len(attempts)}")

    with pytest.raises(OSError, match="attempt 3"):
        await retry(flaky, backoff=FAST, retry_on=(OSError,), stopping=asyncio.Event())
    assert len(attempts) == 3


async def test_retry_does_not_retry_other_errors_and_honours_stop() -> None:
    async def broken() -> int:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        await retry(broken, backoff=FAST, retry_on=(OSError,), stopping=asyncio.Event())

    stopping = asyncio.Event()

    async def down() -> int:
        stopping.set()
        raise OSError("down")

    with pytest.raises(Stopped):
        await retry(
            down, backoff=Backoff(base=5, cap=5), retry_on=(OSError,), stopping=stopping, until_stopped=True
        )
    assert await pause(stopping, 10) is True


async def test_retry_raises_a_give_up_error_at_once_even_when_it_is_also_retried() -> None:
    attempts: list[int] = []

    async def poisoned() -> int:
        attempts.append(1)
        raise PermissionError("never retried")

    with pytest.raises(PermissionError):
        await retry(
            poisoned,
            backoff=Backoff(base=0.001, cap=0.001, max_attempts=5),
            retry_on=(OSError,),
            give_up=(PermissionError,),
            stopping=asyncio.Event(),
        )
    assert len(attempts) == 1


async def test_retry_takes_each_errors_own_backoff_and_counts_every_attempt() -> None:
    """A rate limit waits its floor at least and an outage does not; the attempt limit is the one of the
    error met, over all attempts (how the sync-worker retries Plaid)."""
    limited = Backoff(base=0.001, cap=0.001, max_attempts=4, floor=0.05)
    outage = Backoff(base=0.001, cap=0.001, max_attempts=10)
    errors = [TimeoutError(), ConnectionRefusedError(), TimeoutError(), ConnectionRefusedError()]
    calls: list[float] = []

    async def flaky() -> int:
        calls.append(asyncio.get_running_loop().time())
        raise errors[len(calls) - 1]

    def backoff_for(error: BaseException) -> Backoff:
        return limited if isinstance(error, ConnectionRefusedError) else outage

    with pytest.raises(ConnectionRefusedError):  # the 4th attempt, the rate limit's last: raised
        await retry(flaky, backoff=backoff_for, retry_on=(OSError,), stopping=None)
    assert len(calls) == 4
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[0] < 0.05 and gaps[2] < 0.05  # after a timeout: the outage's short pause
    assert gaps[1] >= 0.05  # after a refusal: the floor
    assert all(limited.delay(n) >= 0.05 for n in range(20))


async def test_interruptible_cancels_the_wait_when_stopping_is_set() -> None:
    stopping = asyncio.Event()
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.get_running_loop().call_later(0.05, stopping.set)
    with pytest.raises(Stopped):
        await asyncio.wait_for(interruptible(stopping, forever()), 2)
    assert cancelled.is_set()
    assert await interruptible(asyncio.Event(), asyncio.sleep(0, "done")) == "done"


async def test_stop_cancels_a_prepare_in_progress_at_once() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def prepare() -> list[Worker]:
        started.set()
        try:
            await asyncio.sleep(3600)  # a migration waiting on a lock, a broker that does not answer
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return []

    supervisor = Supervisor(prepare, backoff=FAST)
    task = asyncio.create_task(supervisor.run())
    await asyncio.wait_for(started.wait(), 2)
    supervisor.stop()
    await asyncio.wait_for(task, 2)
    assert cancelled.is_set() and not supervisor.ready.is_set()
