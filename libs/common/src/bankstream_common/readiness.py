"""Readiness checks: async callables that return when a dependency answers and raise when it does not.

`/readyz` runs each with a timeout (see `http.py`); a check should also bound itself, so that a hung
dependency never holds a connection or a task past the probe.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from .redaction import redact_text

ReadinessCheck = Callable[[], Awaitable[None]]


class NotReady(Exception):
    """A check's reason for not being ready, said as is."""


class Supervised(Protocol):
    """What `workers_check` reads of a `runtime.Supervisor`."""

    ready: asyncio.Event

    @property
    def workers(self) -> Sequence[object]: ...


CHECK_TIMEOUT_SECONDS = 2.0


def failure_reason(exc: BaseException, *, limit: int = 160) -> str:
    """A short description of why a check failed, safe to return from an HTTP endpoint."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).strip()
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return redact_text(reason)[:limit]


def postgres_check(pool: asyncpg.Pool, *, timeout: float = CHECK_TIMEOUT_SECONDS) -> ReadinessCheck:
    """`SELECT 1` through the service's pool."""

    async def check() -> None:
        async with asyncio.timeout(timeout):
            async with pool.acquire(timeout=timeout) as conn:
                await conn.fetchval("SELECT 1")

    return check


class KafkaCheck:
    """A metadata round-trip with the broker through one cached admin client (rebuilt after a failure)."""

    def __init__(self, bootstrap_servers: str, *, timeout: float = CHECK_TIMEOUT_SECONDS) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._timeout = timeout
        self._client: AIOKafkaAdminClient | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> None:
        async with self._lock:
            try:
                async with asyncio.timeout(self._timeout):
                    if self._client is None:
                        client = AIOKafkaAdminClient(
                            bootstrap_servers=self._bootstrap_servers,
                            client_id="readiness",
                            request_timeout_ms=int(self._timeout * 1000),
                        )
                        self._client = client
                        await client.start()
                    await self._client.describe_cluster()
            except BaseException:
                await self.aclose()
                raise

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            # a client that never connected may fail to close; it is dropped either way
            with contextlib.suppress(Exception):
                await client.close()


def kafka_check(bootstrap_servers: str, *, timeout: float = CHECK_TIMEOUT_SECONDS) -> KafkaCheck:
    return KafkaCheck(bootstrap_servers, timeout=timeout)


def workers_check(supervisor: Supervised) -> ReadinessCheck:
    """Ready once the supervisor has prepared the infrastructure and while every worker that reports its
    health (`health() -> str | None`: consumer runners, the outbox relay) says it runs: a consumer that has
    stopped polling Kafka or a relay that is not running fails readiness, not only a lost connection."""

    async def check() -> None:
        if not supervisor.ready.is_set():
            raise NotReady("starting: migrations, topics and the producer are not ready yet")
        problems = [
            problem
            for worker in supervisor.workers
            if callable(health := getattr(worker, "health", None)) and (problem := health())
        ]
        if problems:
            raise NotReady("; ".join(problems))

    return check
