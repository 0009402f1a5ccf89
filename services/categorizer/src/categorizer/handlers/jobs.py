"""Re-categorization jobs: after a rule change, a lesson learned or a late ItemLinked, the user's (or the
Item's, or the merchant key's) transactions are decided again, in bounded batches.

Each batch is ONE database transaction: it locks the job row (SKIP LOCKED: one process per job at a time)
and the batch's transaction rows, decides each again with the user's current context, writes the changed
categories with their new versions, enqueues one `recategorized` TransactionCategorized per change and
records the job's progress (`cursor`, counts). A crash rolls the batch back whole; a restarted process
finds the unfinished job and resumes after the last committed batch, so each transaction is
re-categorized exactly once in effect. Overridden transactions are counted but never touched.
"""

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import structlog
from bankstream_common import outbox
from bankstream_common.auth import Principal
from bankstream_common.envelope import Envelope

from ..adapters import jobs as repo
from ..adapters import store
from ..domain import events as ev
from ..domain.decide import decide
from ..domain.errors import JobNotFound
from .context import RULES_SCOPE, Deps, categorized, category_of, txn_of_state

log = structlog.get_logger(__name__)

TRANSIENT = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


async def start_job(
    deps: Deps,
    conn: asyncpg.Connection,
    *,
    user_id: str,
    reason: str,
    caused_by: str,
    item_id: str | None = None,
    merchant_key: str | None = None,
) -> repo.Job:
    """Record a job in the caller's transaction; the runner picks it up once that commits."""
    total = await store.count_live(conn, user_id=user_id, item_id=item_id, merchant_key=merchant_key)
    job = await repo.insert(
        conn,
        user_id=user_id,
        item_id=item_id,
        merchant_key=merchant_key,
        reason=reason,
        caused_by=caused_by,
        total=total,
    )
    deps.metrics.jobs.labels(reason, "started").inc()
    deps.jobs_wakeup.set()
    return job


async def get_job(deps: Deps, principal: Principal, job_id: str, user: str | None = None) -> repo.Job:
    principal.require(RULES_SCOPE)
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        raise JobNotFound(job_id) from None
    job = await repo.get(deps.pool, key)
    if job is None or not principal.may_see(job.user_id, on_behalf_of=user):
        raise JobNotFound(job_id)
    return job


async def run_batch(deps: Deps, job_id: uuid.UUID) -> bool:
    """One bounded batch of the job; True when more remain (False: done, or held by another process)."""
    async with deps.pool.acquire() as conn, conn.transaction():
        job = await repo.claim(conn, job_id)
        if job is None:
            return False
        version = await store.context_version(conn, job.user_id)
        ctx = await deps.context_for(conn, job.user_id, version)
        batch = await store.page(
            conn,
            user_id=job.user_id,
            item_id=job.item_id,
            merchant_key=job.merchant_key,
            after=job.cursor,
            limit=deps.settings.job_batch_size,
            lock=True,
        )
        changes, outputs = [], []
        for row in batch:
            if row.overridden:
                continue
            decision = decide(txn_of_state(row.state), ctx, deps.model, deps.model_name)
            if decision.same_as(row.category) and row.user_id == job.user_id:
                continue
            category = category_of(decision)
            changes.append((row.transaction_id, category.model_dump_json()))
            outputs.append((row, category))
        versions = await store.recategorize(conn, job.user_id, changes)
        now = datetime.now(UTC)
        await outbox.enqueue_many(
            conn,
            [
                (
                    deps.topic(ev.TOPIC_CATEGORIZED),
                    row.account_id,
                    _recategorized(row, job, category, versions[row.transaction_id], now),
                )
                for row, category in outputs
            ],
        )
        done = len(batch) < deps.settings.job_batch_size
        await repo.advance(
            conn,
            job.job_id,
            cursor=batch[-1].transaction_id if batch else job.cursor,
            processed=len(batch),
            changed=len(changes),
            done=done,
        )
    deps.metrics.job_changed.inc(len(changes))
    if done:
        deps.metrics.jobs.labels(job.reason, "succeeded").inc()
        log.info("re-categorization job done", job_id=str(job_id), reason=job.reason)
    return not done


def _recategorized(
    row: store.Stored, job: repo.Job, category: ev.Category, version: int, now: datetime
) -> Envelope:
    return categorized(
        ev.TransactionCategorized(
            change="recategorized",
            transaction_id=row.transaction_id,
            account_id=row.account_id,
            item_id=row.item_id,
            user_id=job.user_id,
            version=version,
            sync_sequence=None,
            caused_by=str(job.job_id),
            transaction=ev.TransactionState.model_validate(row.state),
            category=category,
            decided_at=now,
        )
    )


async def run_job(deps: Deps, job_id: uuid.UUID) -> None:
    more = True
    while more:
        more = await run_batch(deps, job_id)


class JobRunner:
    """The worker that drives unfinished jobs, oldest first: woken when a job starts, polling otherwise
    (which also resumes, after a restart, the jobs a crash interrupted)."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self._deps.jobs_wakeup.set()

    async def _run_one(self, job_id: uuid.UUID) -> None:
        """Run a job to its end; an outage propagates (every job waits for it), any other failure ends this
        job alone as failed, so it neither retries forever nor holds back the jobs behind it."""
        try:
            more = True
            while more and not self._stopping.is_set():
                more = await run_batch(self._deps, job_id)
        except TRANSIENT:
            raise
        except Exception as exc:
            log.exception("re-categorization job failed", job_id=str(job_id))
            reason = await repo.fail(self._deps.pool, job_id, f"{type(exc).__name__}: {exc}"[:500])
            if reason is not None:
                self._deps.metrics.jobs.labels(reason, "failed").inc()

    async def run(self) -> None:
        while not self._stopping.is_set():
            self._deps.jobs_wakeup.clear()
            try:
                for job_id in await repo.running(self._deps.pool):
                    await self._run_one(job_id)
            except TRANSIENT as exc:
                log.warning("re-categorization batch failed, retrying later", error=type(exc).__name__)
            except Exception:
                log.exception("re-categorization batch failed, retrying later")
            if self._stopping.is_set():
                return
            if self._deps.jobs_wakeup.is_set():
                continue
            wake = asyncio.create_task(self._deps.jobs_wakeup.wait())
            try:
                await asyncio.wait({wake}, timeout=self._deps.settings.job_poll_seconds)
            finally:
                wake.cancel()
