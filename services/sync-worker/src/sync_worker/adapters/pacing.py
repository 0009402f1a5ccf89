"""Pacing of `/transactions/sync`: never more than Plaid's limits in any window, per Item and per client,
across every worker, restarted or new.

Plaid allows 50 `/transactions/sync` calls per Item per minute (and a per-client budget shared by every
Item). A large backfill (200 pages for 100,000 transactions) would meet that limit at full speed and then
live on 429s and backoff, whose attempts are bounded: a run could fail for want of patience. Pacing waits
for the window instead, so the run goes on at the rate Plaid allows.

The window is kept in PostgreSQL (`plaid_sync_calls`), not in the process: a worker restarted in the
middle of a window, or another worker taking an Item over, sees the calls already made and waits. A call
takes a slot (a row) before it is sent, in a transaction serialised by an advisory lock (so two workers
never both take the last slot), and holds it until `window` after its answer came back (Plaid counted it
somewhere in between, so counting from the answer is never early); while in flight, until `window` after
its timeout (a worker killed mid-call leaves a slot that expires by itself). A 429 all the same holds the
Item's slots for a whole window (`saturate`), on top of the reactive backoff.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

LOCK = "SELECT pg_advisory_xact_lock(hashtext('bankstream.plaid_sync_calls'), hashtext(current_schema()))"
USED = """SELECT coalesce(sum(weight) FILTER (WHERE item_id = $1), 0) AS item_used,
                 coalesce(sum(weight), 0) AS client_used,
                 extract(epoch FROM min(expires_at) FILTER (WHERE item_id = $1) - clock_timestamp())
                     AS item_frees_in,
                 extract(epoch FROM min(expires_at) - clock_timestamp()) AS client_frees_in
          FROM plaid_sync_calls WHERE expires_at > clock_timestamp()"""
TAKE = """INSERT INTO plaid_sync_calls (item_id, expires_at)
          VALUES ($1, clock_timestamp() + make_interval(secs => $2)) RETURNING id"""
ANSWERED = """UPDATE plaid_sync_calls SET expires_at = clock_timestamp() + make_interval(secs => $2)
              WHERE id = $1"""
SATURATE = """INSERT INTO plaid_sync_calls (item_id, weight, expires_at)
              VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))"""
PRUNE = "DELETE FROM plaid_sync_calls WHERE expires_at < clock_timestamp() - interval '1 minute'"
MIN_WAIT = 0.02  # a slot freeing "now": look again this soon
PRUNE_EVERY = 200  # calls


class SyncCallPacer:
    """`per_item` / `per_client` 0: that limit is not paced (both 0: a Plaid stand-in without limits)."""

    def __init__(
        self, pool: asyncpg.Pool, *, per_item: int, per_client: int, window: float, call_timeout: float
    ) -> None:
        self._pool = pool
        self.per_item, self.per_client, self.window = per_item, per_client, window
        self._in_flight_hold = call_timeout + window
        self._taken = 0

    @property
    def paces(self) -> bool:
        return bool(self.per_item or self.per_client)

    @asynccontextmanager
    async def call(self, item_id: str) -> AsyncIterator[float]:
        """Hold one of the Item's (and the client's) slots for a call; yields how long it waited."""
        if not self.paces:
            yield 0.0
            return
        waited = 0.0
        while True:
            slot, delay = await self._take(item_id)
            if slot is not None:
                break
            await asyncio.sleep(delay)
            waited += delay
        try:
            yield waited
        finally:
            await self._pool.execute(ANSWERED, slot, self.window)

    async def saturate(self, item_id: str) -> None:
        """Plaid answered 429 all the same: hold the Item's calls for a whole window, after which every
        call Plaid counted has left it."""
        if self.per_item:
            await self._pool.execute(SATURATE, item_id, self.per_item, self.window)

    async def _take(self, item_id: str) -> tuple[int | None, float]:
        """A slot (its id), or None and how long until one may free."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(LOCK)
            used = await conn.fetchrow(USED, item_id)
            waits = []
            if self.per_item and used["item_used"] >= self.per_item:
                waits.append(float(used["item_frees_in"] or 0))
            if self.per_client and used["client_used"] >= self.per_client:
                waits.append(float(used["client_frees_in"] or 0))
            if waits:
                return None, max(MIN_WAIT, *waits)
            self._taken += 1
            if self._taken % PRUNE_EVERY == 0:
                await conn.execute(PRUNE)
            slot: int = await conn.fetchval(TAKE, item_id, self._in_flight_hold)
            return slot, 0.0
