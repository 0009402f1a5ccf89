"""Running a service process: its HTTP server and its background workers, until SIGTERM or SIGINT.

    run_service(build)        # build: async () -> Service, called inside the event loop

On SIGTERM/SIGINT the HTTP server stops accepting and drains, every worker is asked to `stop()` and
given `grace_seconds` to return from `run()` (then cancelled), `Service.aclose` releases the clients,
and the process exits 0. If a worker fails (or the server cannot start) the rest are stopped the same
way and the process exits 1, so an orchestrator restarts it.
"""

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog
import uvicorn
from fastapi import FastAPI

log = structlog.get_logger("bankstream.runtime")


class Worker(Protocol):
    """A background loop (consumer runner, outbox relay): `run()` until `stop()` is called."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Service:
    app: FastAPI
    host: str
    port: int
    workers: Sequence[Worker] = ()
    aclose: Callable[[], Awaitable[None]] | None = None
    grace_seconds: float = 10.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `serve_service` owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_service(service: Service) -> int:
    """Serve until a signal or a failure; returns the exit code (0 after a clean stop)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    config = uvicorn.Config(
        service.app,
        host=service.host,
        port=service.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(int(service.grace_seconds) - 1, 1),
    )
    server = _Server(config)
    server_task = asyncio.create_task(server.serve(), name="http")
    worker_tasks = [asyncio.create_task(w.run(), name=type(w).__name__) for w in service.workers]
    stop_task = asyncio.create_task(stop.wait(), name="signal")
    watched = {server_task, stop_task, *worker_tasks}
    exit_code = 0
    try:
        done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        if stop_task in done:
            log.info("stopping", reason="signal")
        else:
            exit_code = 1
            for task in done:
                log.error("stopping", reason=f"{task.get_name()} ended")
        await _shut_down(service, server, server_task, worker_tasks)
    finally:
        stop_task.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped", exit_code=exit_code)
    return exit_code


async def _shut_down(
    service: Service,
    server: uvicorn.Server,
    server_task: asyncio.Task[None],
    workers: list[asyncio.Task[None]],
) -> None:
    server.should_exit = True
    for worker in service.workers:
        worker.stop()
    pending = [t for t in (server_task, *workers) if not t.done()]
    if pending:
        _, late = await asyncio.wait(pending, timeout=service.grace_seconds)
        for task in late:
            log.warning("cancelled after the grace period", task=task.get_name())
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    for task in (server_task, *workers):
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("task failed", task=task.get_name(), exc_info=task.exception())
    if service.aclose is not None:
        await service.aclose()


def run_service(build: Callable[[], Awaitable[Service]]) -> None:
    """Build the service inside the event loop, serve it, and exit with `serve_service`'s code."""

    async def main() -> int:
        return await serve_service(await build())

    sys.exit(asyncio.run(main()))
