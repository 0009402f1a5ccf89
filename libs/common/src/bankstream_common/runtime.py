"""Running a service process: its HTTP server and its background workers, until SIGTERM or SIGINT.

    run_service(build)        # build: async () -> Service, called inside the event loop; then tune_gc()
    Supervisor(prepare)       # the one background worker of a service: prepare (retried), then run loops
    Periodic(name, fn, every) # a worker that calls fn() every `every` seconds until stopped

On SIGTERM/SIGINT the HTTP server stops accepting and drains, every worker is asked to `stop()` and
given `grace_seconds` to return from `run()` (then cancelled), `Service.aclose` releases the clients,
and the process exits 0. If a worker fails (or the server cannot start) the rest are stopped the same
way and the process exits 1, so an orchestrator restarts it.
"""

import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
import uvicorn
from fastapi import FastAPI

from .backoff import Backoff, Stopped, interruptible, pause, retry
from .http import MetricsListener, metrics_listener
from .settings import BaseServiceSettings

log = structlog.get_logger("bankstream.runtime")


class Worker(Protocol):
    """A background loop (consumer runner, outbox relay): `run()` until `stop()` is called."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


class Supervisor:
    """A service's background work: get the infrastructure ready, then run the workers it returns.

    `prepare()` (migrations, topics, starting the producer, ...) is retried with backoff until it succeeds
    or the process stops (a stop cancels a `prepare` in progress: each step is idempotent), so the
    process stays alive meanwhile and /readyz says why it is not ready. It returns the workers to run
    (consumer runners, relays, schedulers, `Periodic`s), concurrently. `stop()` stops them all; if one
    ends on its own the others are stopped and its failure is raised, so the runtime exits non-zero and
    the orchestrator restarts the process. `fatal` errors from `prepare` (a configuration that cannot
    work) are raised at once instead of retried.
    """

    def __init__(
        self,
        prepare: Callable[[], Awaitable[Sequence[Worker]]],
        *,
        backoff: Backoff | None = None,
        fatal: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._prepare, self._fatal = prepare, fatal
        self._backoff = backoff or Backoff(base=0.5, cap=10.0)
        self._workers: list[Worker] = []
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()

    @property
    def workers(self) -> list[Worker]:
        return list(self._workers)

    def stop(self) -> None:
        self._stopping.set()
        for worker in self._workers:
            worker.stop()

    async def run(self) -> None:
        try:
            self._workers = list(
                await retry(
                    lambda: interruptible(self._stopping, self._prepare()),
                    backoff=self._backoff,
                    retry_on=(Exception,),
                    give_up=self._fatal,
                    stopping=self._stopping,
                    until_stopped=True,
                    on_retry=lambda exc, n: log.warning(
                        "infrastructure not ready, retrying", error=type(exc).__name__, attempt=n
                    ),
                )
            )
        except Stopped:
            return
        self.ready.set()
        if self._stopping.is_set():
            return
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


class Periodic:
    """A worker calling `fn()` every `every` seconds (first call at once) until stopped; a failure in
    `retry_on` is logged and tried again at the next tick, anything else ends the worker."""

    def __init__(
        self,
        name: str,
        fn: Callable[[], Awaitable[object]],
        every: float,
        *,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
    ) -> None:
        self.name, self._fn, self._every, self._retry_on = name, fn, every, retry_on
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._fn()
            except self._retry_on as exc:
                log.warning("periodic task failed, retrying later", task=self.name, error=type(exc).__name__)
            if await pause(self._stopping, self._every):
                return


@dataclass
class Service:
    app: FastAPI
    host: str
    port: int
    workers: Sequence[Worker] = ()
    aclose: Callable[[], Awaitable[None]] | None = None
    grace_seconds: float = 10.0

    @classmethod
    def of(
        cls,
        settings: BaseServiceSettings,
        app: FastAPI,
        workers: Sequence[Worker],
        aclose: Callable[[], Awaitable[None]],
    ) -> "Service":
        """A service as its settings place it (host, port, shutdown grace): every composition root's."""
        return cls(
            app=app,
            host=settings.http_host,
            port=settings.http_port,
            workers=workers,
            aclose=aclose,
            grace_seconds=settings.shutdown_grace_seconds,
        )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `serve_service` owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


# The request line and headers a connection may buffer before they are complete: over it, uvicorn answers
# 400 and closes, before the app (and its HttpGuard) sees anything. Only uvicorn's h11 parser takes a
# bound; httptools buffers a head of any size (an 8 MB header was read and served), so h11 it is.
# A head that arrives whole in one read (up to 64 KiB) is still parsed; the guard then caps Authorization.
MAX_REQUEST_HEAD_BYTES = 16 * 1024
BOUNDED_REQUEST_HEAD: dict[str, Any] = {
    "http": "h11",
    "h11_max_incomplete_event_size": MAX_REQUEST_HEAD_BYTES,
}


def _server(app: Any, host: str, port: int, **options: Any) -> "_Server":
    """A uvicorn server as every listener of ours runs: our logging, no access log, a bounded request head."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, **BOUNDED_REQUEST_HEAD, **options
    )
    return _Server(config)


async def serve_service(service: Service) -> int:
    """Serve until a signal or a failure; returns the exit code (0 after a clean stop)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = _server(
        service.app,
        service.host,
        service.port,
        lifespan="on",
        timeout_graceful_shutdown=max(int(service.grace_seconds) - 1, 1),
    )
    server_task = asyncio.create_task(server.serve(), name="http")
    worker_tasks = [asyncio.create_task(w.run(), name=type(w).__name__) for w in service.workers]
    listener = metrics_listener(service.app)
    if listener is not None:  # /metrics on its own port, stopped with the API (a worker like the others)
        worker_tasks.append(asyncio.create_task(_serve_metrics(listener, stop), name="metrics"))
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
        stop.set()  # the metrics listener stops with the rest
        await _shut_down(service, server, server_task, worker_tasks)
    finally:
        stop_task.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped", exit_code=exit_code)
    return exit_code


async def _serve_metrics(listener: MetricsListener, stop: asyncio.Event) -> None:
    server = _server(listener.app, listener.host, listener.port, lifespan="off")
    task = asyncio.create_task(server.serve())
    try:
        await asyncio.wait([task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        await task


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


# A consumer holds a poll's events in flight while PostgreSQL works (records, decoded envelopes, rows,
# outputs: tens of thousands of container objects). With CPython's default thresholds (700, 10, 10) the
# cyclic collector walked them again every ~700 allocations, and every full collection also walked what
# start-up built (a categorizer's model, the routes, the metrics): in the ledger's projection about half
# of its CPU, in the categorizer's stream ~17 us per event. Events are acyclic (reference counting frees
# them); collecting less often, with start-up frozen, keeps the collector for the rare cycle.
GC_THRESHOLDS = (20_000, 20, 10)


def tune_gc() -> None:
    """Freeze what start-up built (once per process) and collect less often (docs/operations.md, "The
    garbage collector"). A process-wide choice: `run_service` makes it once the service is built, and a
    bench that builds a service in its own process calls it as run_service would."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_service(build: Callable[[], Awaitable[Service]]) -> None:
    """Build the service inside the event loop, tune the garbage collector for what it built, serve it,
    and exit with `serve_service`'s code."""

    async def main() -> int:
        service = await build()
        tune_gc()
        return await serve_service(service)

    sys.exit(asyncio.run(main()))
