"""sync-worker's tables: which Items want a run, which run holds each Item's lease, and each run's outcome.

The lease is a row lock in time: `claim_due` hands an Item to one run until `lease_until`, under a
`lease_holder` minted for that claim alone (`<worker>/<random id>`: two claims of one Item by the same
process are two different holders). The scheduler renews it while the run goes on, and every write of a
run's outcome is fenced in its own transaction: the lease must still be held by this claim and not have
run out and, for a commit, the cursor must still be the one the run started from. A worker killed mid-run
leaves a lease that simply runs out; another worker (or the restarted one) then redoes the run from the
same cursor.
"""

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import asyncpg
from bankstream_common import outbox

from ..domain.events import TRANSACTION_CHANGED, TRANSACTIONS_TOPIC
from ..domain.run import Outgoing, StagedEvent
from ..domain.triggers import TriggerAction
from . import open_loops
from .open_loops import OpenLoop, PageCommit

_MERGE_TRIGGER = """CASE WHEN $2 = '' OR $2 = ANY(sync_items.wanted_triggers) THEN sync_items.wanted_triggers
                         ELSE sync_items.wanted_triggers || $2 END"""
_WANT = f"""wanted_at = LEAST(COALESCE(sync_items.wanted_at, now()), now()),
            wanted_triggers = {_MERGE_TRIGGER},
            want_refresh = sync_items.want_refresh OR $3,
            from_scratch_asked_at = CASE WHEN $4 THEN COALESCE(sync_items.from_scratch_asked_at, now())
                                         ELSE sync_items.from_scratch_asked_at END,
            trigger_version = sync_items.trigger_version + 1, updated_at = now()"""
_INSERT = """INSERT INTO sync_items (item_id, status, wanted_at, wanted_triggers, want_refresh,
                                     from_scratch_asked_at, trigger_version)
             VALUES ($1, 'active', now(), CASE WHEN $2 = '' THEN '{}'::text[] ELSE ARRAY[$2] END,
                     $3, CASE WHEN $4 THEN now() END, 1)"""
# A status change ($5: its changed_at; NULL for a webhook's) applies only when newer than the last applied.
_NEWER = (
    "($5::timestamptz IS NULL OR sync_items.status_changed_at IS NULL OR sync_items.status_changed_at < $5)"
)
_STATUS_AT = "status_changed_at = COALESCE($5, sync_items.status_changed_at)"
TRIGGER_SQL = {
    "link": f"""{_INSERT} ON CONFLICT (item_id) DO UPDATE SET status = 'active', failed_runs = 0,
                not_before = NULL, {_WANT}""",
    "resume": f"""{_INSERT} ON CONFLICT (item_id) DO UPDATE SET status = 'active', failed_runs = 0,
                  not_before = NULL, {_STATUS_AT}, {_WANT}
                  WHERE sync_items.status <> 'removed' AND {_NEWER}""",
    "want": f"""{_INSERT} ON CONFLICT (item_id) DO UPDATE SET {_WANT} WHERE sync_items.status <> 'removed'""",
    # a newer pause is remembered even when the Item is not active (a stale `good` must not resume it)
    "pause": f"""UPDATE sync_items
                SET status = CASE WHEN status = 'active' THEN 'needs_attention' ELSE status END,
                    {_STATUS_AT.replace("$5", "$2")}, updated_at = now()
                WHERE item_id = $1 AND {_NEWER.replace("$5", "$2")}""",  # noqa: S608 (constants)
    "stop": """INSERT INTO sync_items (item_id, status) VALUES ($1, 'removed')
               ON CONFLICT (item_id)
               DO UPDATE SET status = 'removed', wanted_at = NULL, updated_at = now()""",
}

CLAIM = """
WITH due AS (
    SELECT item_id, wanted_triggers, want_refresh,
           -- from scratch once caught up: a run committed since the ask (or there is no cursor yet)
           from_scratch_asked_at IS NOT NULL AND loop_run_id IS NULL
               AND (cursor = '' OR last_synced_at >= from_scratch_asked_at) AS from_scratch
    FROM sync_items
    WHERE status = 'active' AND wanted_at <= now()
      AND (not_before IS NULL OR not_before <= now())
      AND (lease_until IS NULL OR lease_until < now())
      AND NOT item_id = ANY($4::text[])
    ORDER BY wanted_at LIMIT $2
    FOR UPDATE SKIP LOCKED)
UPDATE sync_items s SET lease_holder = $1 || '/' || gen_random_uuid()::text,
       lease_until = now() + $3::interval,
       wanted_triggers = '{}', want_refresh = false, updated_at = now(),
       from_scratch_asked_at = CASE WHEN due.from_scratch THEN NULL ELSE s.from_scratch_asked_at END
FROM due WHERE s.item_id = due.item_id
RETURNING s.item_id, s.lease_holder, s.cursor, s.last_sequence, s.trigger_version, s.failed_runs,
          due.wanted_triggers AS triggers, due.want_refresh AS refresh, due.from_scratch,
          s.loop_run_id, s.loop_cursor, s.loop_started_at, s.loop_first_sequence, s.loop_pages,
          s.loop_added, s.loop_modified, s.loop_removed, s.loop_restarts"""

# The fence every outcome passes, in the outcome's own transaction: the row locked, and whether the lease
# is still this claim's and has not run out (clock_timestamp: the moment of the check, not of BEGIN).
FENCE = """SELECT status, cursor, last_sequence,
                  lease_holder = $2 AND lease_until > clock_timestamp() AS held
           FROM sync_items WHERE item_id = $1 FOR UPDATE"""


@dataclass(frozen=True)
class Claim:
    """An Item a run holds the lease on (under `lease`, its holder), as it was when claimed."""

    item_id: str
    lease: str
    cursor: str
    last_sequence: int
    trigger_version: int
    failed_runs: int
    triggers: tuple[str, ...]
    refresh: bool
    loop: OpenLoop | None = None
    from_scratch: bool = False  # the loop starts from the empty cursor (never with a loop open)


@dataclass(frozen=True)
class RunRecord:
    """A run's row in the history."""

    run_id: str
    item_id: str
    triggers: Sequence[str]
    outcome: str
    pages: int
    restarts: int
    added: int
    modified: int
    removed: int
    started_at: dt.datetime
    finished_at: dt.datetime
    error_code: str | None = None
    error_type: str | None = None
    retryable: bool | None = None
    first_sequence: int | None = None
    last_sequence: int | None = None

    @property
    def duration_ms(self) -> int:
        return max(0, int((self.finished_at - self.started_at).total_seconds() * 1000))


async def apply_trigger(conn: asyncpg.Connection, action: TriggerAction) -> None:
    """Record a trigger in the caller's (the consumer's) transaction; the scheduler wakes at its commit."""
    if action.effect == "stop":
        await conn.execute(TRIGGER_SQL["stop"], action.item_id)
        return
    if action.effect == "pause":
        await conn.execute(TRIGGER_SQL["pause"], action.item_id, action.status_changed_at)
        return
    extra = (action.status_changed_at,) if action.effect == "resume" else ()
    await conn.execute(
        TRIGGER_SQL[action.effect],
        action.item_id,
        action.trigger,
        action.refresh,
        action.from_scratch,
        *extra,
    )
    await conn.execute("SELECT pg_notify(current_schema() || '_sync_wanted', '')")


class SyncRepository:
    def __init__(
        self, pool: asyncpg.Pool, *, worker: str, lease_seconds: float, topic_prefix: str = ""
    ) -> None:
        """`worker` names this process in the lease holders it mints (each claim adds its own id)."""
        self._pool, self.worker, self._lease = pool, worker, dt.timedelta(seconds=lease_seconds)
        self._prefix = topic_prefix

    def _topics(self, events: Sequence[Outgoing]) -> list[Outgoing]:
        return [(self._prefix + topic, key, event) for topic, key, event in events]

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def claim_due(self, limit: int, running: Collection[str] = ()) -> list[Claim]:
        """Lease up to `limit` due Items, never one of `running` (the Items this process is running:
        their lease may have run out while the run still goes on)."""
        if limit <= 0:
            return []
        rows = await self._pool.fetch(CLAIM, self.worker, limit, self._lease, list(running))
        return [
            Claim(
                r["item_id"],
                r["lease_holder"],
                r["cursor"],
                r["last_sequence"],
                r["trigger_version"],
                r["failed_runs"],
                tuple(r["triggers"]),
                r["refresh"],
                open_loops.from_row(r),
                r["from_scratch"],
            )
            for r in rows
        ]

    async def renew(self, claim: Claim) -> bool:
        """Extend the claim's lease; False when it is no longer held or has run out (the run must stop:
        whoever claims the Item next may already be running it)."""
        row = await self._pool.fetchval(
            """UPDATE sync_items SET lease_until = now() + $3::interval
               WHERE item_id = $1 AND lease_holder = $2 AND lease_until > clock_timestamp() RETURNING 1""",
            claim.item_id,
            claim.lease,
            self._lease,
        )
        return row is not None

    async def release(self, claim: Claim, *, crashed: str | None = None, retry_in: float = 0.0) -> None:
        """Give the lease back without an outcome (shutting down, or a run stopped): the run stays wanted.
        A run that `crashed` (its error's name) counts as a failed run and holds the Item back `retry_in`
        seconds. A no-op once another claim holds the lease."""
        await self._pool.execute(
            """UPDATE sync_items SET lease_holder = NULL, lease_until = NULL,
                   wanted_triggers = (SELECT coalesce(array_agg(DISTINCT t), '{}')
                                      FROM unnest(wanted_triggers || $3::text[]) t),
                   from_scratch_asked_at = CASE WHEN $4 AND loop_run_id IS NULL  -- caught up already
                       THEN COALESCE(from_scratch_asked_at, '-infinity') ELSE from_scratch_asked_at END,
                   failed_runs = failed_runs + CASE WHEN $5::text IS NULL THEN 0 ELSE 1 END,
                   last_error_code = COALESCE($5, last_error_code),
                   not_before = CASE WHEN $5 IS NULL THEN not_before
                                     ELSE now() + make_interval(secs => $6::float8) END
               WHERE item_id = $1 AND lease_holder = $2""",
            claim.item_id,
            claim.lease,
            list(claim.triggers),
            claim.from_scratch,
            crashed,
            retry_in,
        )

    async def stage(self, item_id: str, attempt: uuid.UUID, staged: Sequence[StagedEvent]) -> None:
        """Stage a page's transaction events in the outbox batch `attempt`, outside any run transaction
        (binary COPY): invisible to the relay until the run's commit releases the batch."""
        if not staged:
            return
        topic, event_type = self._prefix + TRANSACTIONS_TOPIC, TRANSACTION_CHANGED
        rows = [(seq, event_id, topic, key, event_type, payload) for seq, event_id, key, payload in staged]
        async with self._pool.acquire() as conn:
            await outbox.stage_batch(conn, attempt, item_id, rows)

    async def discard_staged(self, item_id: str) -> None:
        """Forget the Item's staged batches no commit released (a new run starts; the lease makes this
        safe; a released batch belongs to the relay until it is published)."""
        await outbox.discard_unreleased(self._pool, item_id)

    async def _fence(
        self, conn: asyncpg.Connection, claim: Claim, at: tuple[str, int] | None = None
    ) -> str | None:
        """Lock the Item's row; its status when the claim still holds an unexpired lease (and the cursor and
        last sequence are still `at`, what the run last committed). Called inside the outcome's
        transaction, so a run that lost its lease never commits."""
        row = await conn.fetchrow(FENCE, claim.item_id, claim.lease)
        if row is None or not row["held"]:
            return None
        if at is not None and (row["cursor"], row["last_sequence"]) != at:
            return None
        return str(row["status"])

    async def checkpoint(
        self, claim: Claim, at: tuple[str, int], batch: uuid.UUID, count: int, page: PageCommit
    ) -> bool:
        """Commit one page of an open loop (has_more was true): its staged batch released, the next page's
        cursor, the loop's state, the ids it touched. False if fenced off (or the Item was removed)."""
        async with self._pool.acquire() as conn, conn.transaction():
            status = await self._fence(conn, claim, at)
            if status is None or status == "removed":
                return False
            released = await outbox.release_batch(conn, batch)
            if released != count:
                raise RuntimeError(f"{count} events were built but {released} were staged")
            await open_loops.record_page(conn, claim.item_id, page)
        return True

    async def vanished(
        self, item_id: str, final_pass: int, last_page: Collection[str]
    ) -> list[tuple[str, str]]:
        """See `open_loops.vanished`."""
        return await open_loops.vanished(self._pool, item_id, final_pass, last_page)

    async def commit_run(
        self,
        claim: Claim,
        record: RunRecord,
        *,
        next_cursor: str,
        last_sequence: int,
        update_status: str | None,
        at: tuple[str, int],
        staged: tuple[uuid.UUID, int],
        events: Sequence[Outgoing],
        vanished: Sequence[StagedEvent] = (),
        retry_after: float | None = None,
    ) -> bool:
        """The run's events, new cursor, history row and Item state in ONE transaction; False if fenced off.

        `at` is what the run last committed (the fence); `staged` is (batch, count): the loop's last page,
        released first, then the `vanished` removals, then `events` (accounts, the run report). The open
        loop's state is cleared. `retry_after` (NOT_READY): keep the Item wanted that many seconds from
        now, in case the webhook announcing its data is lost.
        """
        batch, count = staged
        async with self._pool.acquire() as conn, conn.transaction():
            status = await self._fence(conn, claim, at)
            if status is None:
                return False
            if status != "removed":
                released = await outbox.release_batch(conn, batch)
                if released != count:
                    raise RuntimeError(f"{count} events were built but {released} were staged")
                topic = self._prefix + TRANSACTIONS_TOPIC
                await outbox.enqueue_encoded(
                    conn,
                    [(uuid.UUID(e), topic, key, TRANSACTION_CHANGED, body) for _, e, key, body in vanished],
                )
                await outbox.enqueue_many(conn, self._topics(events))
            # what attempts abandoned by a pagination restart staged (this one is released by now)
            await outbox.discard_unreleased(conn, claim.item_id)
            await conn.execute(
                """UPDATE sync_items SET cursor = $2, last_sequence = $3, update_status = $4,
                       lease_holder = NULL, lease_until = NULL, failed_runs = 0, not_before = NULL,
                       last_error_code = NULL, last_synced_at = now(), updated_at = now(),
                       wanted_at = CASE WHEN from_scratch_asked_at IS NOT NULL THEN now()
                                        WHEN trigger_version <> $5 THEN wanted_at
                                        WHEN $6::float8 IS NULL THEN NULL
                                        ELSE now() + make_interval(secs => $6::float8) END
                   WHERE item_id = $1""",
                claim.item_id,
                next_cursor,
                last_sequence,
                update_status,
                claim.trigger_version,
                retry_after,
            )
            await open_loops.close(conn, claim.item_id)
            await insert_run(conn, record)
        return True

    async def fail_run(
        self, claim: Claim, record: RunRecord, *, next_step: str, delay: float, events: Sequence[Outgoing]
    ) -> bool:
        """Record a failed run and decide the Item's state: retry later, pause, remove or wait. An Item
        removed meanwhile stays removed, and its SyncFailed is not published (as a commit's events)."""
        async with self._pool.acquire() as conn, conn.transaction():
            status = await self._fence(conn, claim)
            if status is None:
                return False
            if status != "removed":
                await outbox.enqueue_many(conn, self._topics(events))
            await outbox.discard_unreleased(conn, claim.item_id)
            await conn.execute(
                """UPDATE sync_items SET lease_holder = NULL, lease_until = NULL, updated_at = now(),
                       last_error_code = $3,
                       wanted_triggers = (SELECT coalesce(array_agg(DISTINCT t), '{}')
                                          FROM unnest(wanted_triggers || $4::text[]) t),
                       failed_runs = CASE WHEN $2 = 'wait' THEN 0 ELSE failed_runs + 1 END,
                       not_before = CASE WHEN $2 = 'retry' THEN now() + make_interval(secs => $5::float8) END,
                       status = CASE WHEN status = 'removed' THEN status
                                     WHEN $2 = 'pause' THEN 'needs_attention'
                                     WHEN $2 = 'remove' THEN 'removed' ELSE status END,
                       wanted_at = CASE WHEN $2 = 'retry' OR $2 = 'pause' THEN wanted_at
                                        WHEN trigger_version <> $6 THEN wanted_at END,
                       from_scratch_asked_at = CASE WHEN $7 AND loop_run_id IS NULL
                           THEN COALESCE(from_scratch_asked_at, '-infinity') ELSE from_scratch_asked_at END
                   WHERE item_id = $1""",
                claim.item_id,
                next_step,
                record.error_code,
                [*claim.triggers, "retry"],
                delay,
                claim.trigger_version,
                claim.from_scratch,
            )
            await insert_run(conn, record)
        return True

    async def want_quiet_items(self, quiet_seconds: float, limit: int = 1000) -> int:
        """The fallback for lost webhooks: active Items not synced for `quiet_seconds` become wanted."""
        result = await self._pool.execute(
            """UPDATE sync_items SET wanted_at = now(), trigger_version = trigger_version + 1,
                   wanted_triggers = wanted_triggers || ARRAY['scheduled'], updated_at = now()
               WHERE item_id IN (
                   SELECT item_id FROM sync_items
                   WHERE status = 'active' AND wanted_at IS NULL
                     AND coalesce(last_synced_at, created_at) < now() - make_interval(secs => $1::float8)
                   LIMIT $2 FOR UPDATE SKIP LOCKED)""",
            quiet_seconds,
            limit,
        )
        return int(result.split()[-1])


async def insert_run(conn: asyncpg.Connection, r: RunRecord) -> None:
    await conn.execute(
        """INSERT INTO sync_runs (run_id, item_id, triggers, outcome, pages, restarts, added, modified,
               removed, started_at, finished_at, duration_ms, error_code, error_type, retryable,
               first_sequence, last_sequence)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)""",
        r.run_id,
        r.item_id,
        list(r.triggers),
        r.outcome,
        r.pages,
        r.restarts,
        r.added,
        r.modified,
        r.removed,
        r.started_at,
        r.finished_at,
        r.duration_ms,
        r.error_code,
        r.error_type,
        r.retryable,
        r.first_sequence,
        r.last_sequence,
    )
