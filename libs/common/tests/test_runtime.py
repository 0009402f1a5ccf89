"""serve_service: a signal stops the server and the workers within the grace period and exits 0;
a failing worker stops everything and exits 1. (The services' own SIGTERM test runs them as processes.)"""

import asyncio
import os
import signal

from bankstream_common.http import create_http_app
from bankstream_common.metrics import create_registry
from bankstream_common.runtime import Service, serve_service
from bankstream_common.testing.service_process import free_port


class PoliteWorker:
    def __init__(self) -> None:
        self.running, self.stopped_cleanly = asyncio.Event(), False
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self.running.set()
        await self._stop.wait()
        self.stopped_cleanly = True

    def stop(self) -> None:
        self._stop.set()


class StubbornWorker(PoliteWorker):
    cancelled = False

    async def run(self) -> None:
        self.running.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


class FailingWorker(PoliteWorker):
    async def run(self) -> None:
        raise RuntimeError("consumer lost its mind")


def service(*workers: PoliteWorker, closed: list[str]) -> Service:
    app = create_http_app(service="rt", settings=None, registry=create_registry(), readiness={})

    async def aclose() -> None:
        closed.append("closed")

    return Service(
        app=app, host="127.0.0.1", port=free_port(), workers=workers, aclose=aclose, grace_seconds=1.0
    )


async def test_sigterm_stops_workers_cleanly_cancels_stubborn_ones_and_exits_0() -> None:
    polite, stubborn, closed = PoliteWorker(), StubbornWorker(), []
    serving = asyncio.create_task(serve_service(service(polite, stubborn, closed=closed)))
    await asyncio.wait_for(asyncio.gather(polite.running.wait(), stubborn.running.wait()), 5)
    started = asyncio.get_running_loop().time()
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(serving, 10) == 0
    assert asyncio.get_running_loop().time() - started < 5
    assert polite.stopped_cleanly and stubborn.cancelled
    assert closed == ["closed"]


async def test_a_failing_worker_stops_the_service_with_exit_1() -> None:
    polite, closed = PoliteWorker(), []
    code = await asyncio.wait_for(serve_service(service(polite, FailingWorker(), closed=closed)), 10)
    assert code == 1
    assert polite.stopped_cleanly and closed == ["closed"]
