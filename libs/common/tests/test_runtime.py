"""serve_service: a signal stops the server and the workers within the grace period and exits 0;
a failing worker stops everything and exits 1; run_service tunes the garbage collector for the service.
(The services' own SIGTERM test runs them as processes.)"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from bankstream_common.http import create_http_app
from bankstream_common.metrics import create_registry
from bankstream_common.runtime import GC_THRESHOLDS, Service, serve_service
from bankstream_common.testing.service_process import free_port

PROCS = Path(__file__).parent / "procs"


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


async def test_a_request_head_over_the_bound_is_refused_before_the_app_reads_it() -> None:
    """An 8 MB header used to be read whole and served (200); now the server refuses it with 400 or closes."""
    svc = service(closed=[])
    serving = asyncio.create_task(serve_service(svc))
    try:
        await _until_serving(svc.port)
        assert await _status_of(svc.port, header_bytes=2_000) == 200  # an ordinary head still passes
        for size in (1_000_000, 8_000_000):
            status = await _status_of(svc.port, header_bytes=size)
            assert status in (400, None), f"a {size}-byte header got {status}"  # None: closed on us
    finally:
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(serving, 10) == 0


async def _until_serving(port: int) -> None:
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("the server never listened")


async def _status_of(port: int, *, header_bytes: int) -> int | None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * header_bytes + b"\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
    except ConnectionError:
        return None
    finally:
        writer.close()
    return int(line.split()[1]) if line else None


def test_run_service_freezes_start_up_and_collects_less_often() -> None:
    """A service started by run_service (as every service's main starts it) runs with what start-up built
    frozen out of the cyclic collector's walks and the first generation's threshold raised."""
    done = subprocess.run(
        [sys.executable, str(PROCS / "gc_main.py")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert f"thresholds={GC_THRESHOLDS} start_up_walked=False" in done.stdout, done.stdout
