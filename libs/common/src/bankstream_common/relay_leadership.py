"""Relay leadership: a session advisory lock per schema, held on a connection that does nothing else.

    lead = Leadership(pool, schema)
    await lead.acquire(stopping)   # True once held (polls every second), False if stopping first
    await lead.check()             # before each hand-over to Kafka: raises LeadershipLost if not held
    await lead.release()

PostgreSQL frees a session lock the moment its session ends, and another relay may take it a second
later; so the holder proves it still holds the lock (its session alive, the lock granted to it in
`pg_locks`) before it hands anything to Kafka, and stops at once when the lock connection drops (asyncpg's
termination listener) or does not answer within `check_timeout`. A relay that loses the lock gives up its
in-flight work and waits to lead again; the rows it had not deleted go out again from the next leader.
"""

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
import structlog

from .backoff import pause

log = structlog.get_logger(__name__)

LOCK = "SELECT pg_try_advisory_lock(hashtext('bankstream.outbox'), hashtext($1))"
UNLOCK = "SELECT pg_advisory_unlock(hashtext('bankstream.outbox'), hashtext($1))"
HELD = """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
              AND pid = pg_backend_pid() AND classid = hashtext('bankstream.outbox')::oid
              AND objid = hashtext($1)::oid)"""


class LeadershipLost(Exception):
    """The relay no longer holds the lock: it must not hand anything more to Kafka."""


class Leadership:
    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        *,
        check_timeout: float = 5.0,
        on_lost: Callable[[], object] = lambda: None,
    ) -> None:
        self._pool, self._schema, self._timeout, self._on_lost = pool, schema, check_timeout, on_lost
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None
        self._lost = False
        self._listening: tuple[str, Callable[..., object]] | None = None

    @property
    def connection(self) -> asyncpg.Connection:
        if self._conn is None:
            raise LeadershipLost("not leading")
        return self._conn

    async def acquire(self, stopping: asyncio.Event, *, every: float = 1.0) -> bool:
        """Take the lock on a connection of its own; True once held, False when `stopping` is set first."""
        while not stopping.is_set():
            try:
                conn = await self._pool.acquire()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("outbox relay cannot reach PostgreSQL", error=type(exc).__name__)
            else:
                try:
                    if await conn.fetchval(LOCK, self._schema, timeout=self._timeout):
                        self._conn, self._lost = conn, False
                        conn.add_termination_listener(self._on_terminated)
                        log.info("outbox relay leading", schema=self._schema)
                        return True
                except Exception as exc:  # noqa: BLE001 - not leading; try again later
                    log.warning("outbox relay lock attempt failed", error=type(exc).__name__)
                with contextlib.suppress(Exception):  # (its reset unlocks whatever it held)
                    await self._pool.release(conn)
            if await pause(stopping, every):
                break
        return False

    async def check(self) -> None:
        """Raise `LeadershipLost` unless this session is alive and holds the lock, now."""
        if self._conn is None or self._lost:
            raise LeadershipLost("the lock connection is gone")
        try:
            held = await self._conn.fetchval(HELD, self._schema, timeout=self._timeout)
        except Exception as exc:  # whatever it is, the lock is not proven held
            # (a connection the server just terminated can answer InternalClientError before it closes)
            self._lost = True
            raise LeadershipLost(f"the lock connection failed: {type(exc).__name__}") from exc
        if not held:
            self._lost = True
            raise LeadershipLost("the lock is not held by this session")

    @property
    def lost(self) -> bool:
        return self._lost

    async def listen(self, channel: str, callback: Callable[..., object]) -> None:
        """Wake-ups come on the lock connection: they end with it."""
        try:
            await self.connection.add_listener(channel, callback)
        except Exception as exc:  # as in `check`
            self._lost = True
            raise LeadershipLost(f"the lock connection failed: {type(exc).__name__}") from exc
        self._listening = (channel, callback)

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        listening, self._listening = self._listening, None
        if conn is None:
            return
        if not self._lost:  # (a connection that dropped is already detached from its pool)
            try:
                conn.remove_termination_listener(self._on_terminated)
                if listening is not None:
                    await conn.remove_listener(*listening)
                await conn.execute(UNLOCK, self._schema, timeout=self._timeout)
            except Exception as exc:  # noqa: BLE001 - the session is ended instead
                log.warning("outbox relay unlock failed: ending its session", error=type(exc).__name__)
                with contextlib.suppress(Exception):
                    conn.terminate()  # the lock ends with the session
        with contextlib.suppress(Exception):  # (a connection that dropped is detached from its pool)
            await self._pool.release(conn)

    def _on_terminated(self, _conn: object) -> None:
        self._lost = True
        log.error("outbox relay lock connection lost", schema=self._schema)
        self._on_lost()
