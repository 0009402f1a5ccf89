"""The service's one background worker: get the infrastructure ready, then run the three loops.

    prepare: migrations, topics (declared here, created when missing), the producer  (retried until they
             answer, so the process is alive and /readyz says why it is not ready meanwhile)
    then:    consumer runner (triggers), scheduler (sync runs), outbox relay (publishing), concurrently

`stop()` stops all three; if one of them ends on its own, the others are stopped and the failure is
raised, so the runtime exits non-zero and the orchestrator restarts the process.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import structlog
from bankstream_common.backoff import Backoff
from bankstream_common.runtime import Worker

log = structlog.get_logger(__name__)


class Pipeline:
    def __init__(
        self,
        *,
        prepare: Callable[[], Awaitable[None]],
        workers: Sequence[Worker],
        backoff: Backoff | None = None,
    ) -> None:
        self._prepare, self._workers = prepare, list(workers)
        self._backoff = backoff or Backoff(base=0.5, cap=10.0)
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        for worker in self._workers:
            worker.stop()

    async def run(self) -> None:
        if not await self._prepared():
            return
        self.ready.set()
        tasks = [asyncio.create_task(w.run(), name=type(w).__name__) for w in self._workers]
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
            ended = [t for t in done if t is not stopping]
            for worker in self._workers:
                worker.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            for task in ended:
                if not self._stopping.is_set():
                    task.result()  # raises the worker's failure
                    raise RuntimeError(f"{task.get_name()} stopped on its own")
        finally:
            stopping.cancel()
            for task in tasks:
                task.cancel()

    async def _prepared(self) -> bool:
        attempt = 0
        while not self._stopping.is_set():
            try:
                await self._prepare()
                return True
            except Exception as exc:  # noqa: BLE001 - any failure here means "not yet": retried, logged
                log.warning(
                    "infrastructure not ready, retrying", error=type(exc).__name__, attempt=attempt + 1
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._backoff.delay(min(attempt, 6)) + 0.1)
            attempt += 1
        return False
