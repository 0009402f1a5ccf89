"""One sync run of one claimed Item: token, optional refresh, the pagination loop, one fenced commit.

    claim -> access token -> [/transactions/refresh] -> /transactions/sync from the stored cursor, 500 per
    page, until has_more=false (MUTATION_DURING_PAGINATION: drop everything, restart from the start cursor,
    a bounded number of times; 429/5xx/timeouts: retry that call after a jittered backoff) -> ONE
    transaction: TransactionChanged + AccountUpdated + SyncCompleted into the outbox, the new cursor, the
    history row (fenced: our lease, the cursor we started from).

A failure anywhere records a failed run and publishes SyncFailed instead (policy.after_failed_run decides
what follows). A crash anywhere before the commit leaves no trace but an expiring lease: the run is redone
from the same cursor, producing the same event ids; after the commit, the outbox relay publishes.
"""

import asyncio
import dataclasses
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import structlog
from bankstream_common.backoff import Backoff, retry
from bankstream_common.envelope import Envelope

from ..adapters.open_loops import OpenLoop, PageCommit
from ..adapters.pacing import SyncCallPacer
from ..adapters.page_builder import PageBuilder
from ..adapters.repository import Claim, RunRecord, SyncRepository
from ..adapters.token_provider import TokenProvider
from ..domain import events
from ..domain.errors import (
    MutationDuringPagination,
    RateLimited,
    RetryableError,
    SyncError,
)
from ..domain.policy import RetryPolicy
from ..domain.run import Checkpoint, Collected, StagedEvent, account_events, vanished_events
from ..metrics import Metrics
from .pagination import paginate

log = structlog.get_logger(__name__)
T = TypeVar("T")


class PlaidTransactions(Protocol):
    async def sync_page_raw(self, access_token: str, cursor: str) -> bytes: ...

    async def refresh(self, access_token: str) -> None: ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ItemSyncer:
    def __init__(
        self,
        repo: SyncRepository,
        plaid: PlaidTransactions,
        tokens: TokenProvider,
        metrics: Metrics,
        policy: RetryPolicy,
        *,
        pages: PageBuilder,
        pacer: SyncCallPacer,
        not_ready_retry_seconds: float = 60.0,
    ) -> None:
        self._repo, self._plaid, self._tokens, self._metrics = repo, plaid, tokens, metrics
        self._pages, self._pacer = pages, pacer
        self._policy = policy
        self._not_ready_retry = not_ready_retry_seconds

    async def run(self, claim: Claim) -> str:
        """Sync `claim`'s Item once; returns the outcome (completed, not_ready, failed, fenced)."""
        began, t0 = _now(), time.perf_counter()
        collected = _collected(claim, began)
        started = collected.started_at  # the loop's: an earlier run may have begun it
        trigger = claim.triggers[0] if claim.triggers else "retry"
        self._metrics.runs_in_progress.inc()
        try:
            try:
                await self._repo.discard_staged(claim.item_id)  # left by an attempt that crashed
                token = await self._retrying(lambda: self._tokens.access_token(claim.item_id), "token")
                if claim.refresh:
                    await self._refresh(token)
                await self._collect(token, claim, collected)
            except SyncError as error:
                outcome = await self._fail(claim, collected, began, error)
            except _Fenced:
                outcome = self._fenced(collected)
            else:
                outcome = await self._commit(claim, collected, started)
        finally:
            self._metrics.runs_in_progress.dec()
        self._metrics.runs.labels(outcome, trigger.split(":")[0]).inc()
        self._metrics.run_seconds.observe(time.perf_counter() - t0)
        log.info(
            "sync run finished",
            item_id=claim.item_id,
            run_id=collected.run_id,
            outcome=outcome,
            triggers=list(claim.triggers),
            pages=collected.pages,
            restarts=collected.restarts,
            added=collected.added,
            modified=collected.modified,
            removed=collected.removed,
            duration_ms=int((time.perf_counter() - t0) * 1000),
        )
        return outcome

    # -- Plaid --------------------------------------------------------------------------------------------

    async def _collect(self, token: str, claim: Claim, collected: Collected) -> None:
        restarts = 0  # this run's (the loop's count includes the runs before it)
        page_limit = collected.pages + self._policy.max_pages  # this run's pages, every pass included
        while True:
            try:
                return await self._paginate(token, claim, collected, page_limit)
            except MutationDuringPagination:
                if restarts >= self._policy.max_restarts:
                    raise
                delay = self._policy.restart_backoff.delay(restarts)
                restarts += 1
                self._metrics.retries.labels("mutation_restart").inc()
                log.info("pagination restart", item_id=claim.item_id, restart=restarts, delay=round(delay, 2))
                await asyncio.sleep(delay)  # changes often come in bursts: let this one settle
                collected.restart()

    async def _paginate(self, token: str, claim: Claim, collected: Collected, page_limit: int) -> None:
        async def commit(staged: list[StagedEvent], checkpoint: Checkpoint) -> None:
            batch = uuid.uuid4()
            await self._repo.stage(collected.item_id, batch, staged)
            if not checkpoint.has_more:  # the loop's last page: released by the run's commit
                collected.last_batch = (batch, len(staged))
                return
            at = (collected.committed_cursor, collected.committed_sequence)
            page = _page_commit(collected, checkpoint)
            if not await self._repo.checkpoint(claim, at, batch, len(staged), page):
                raise _Fenced
            collected.committed(checkpoint)

        await paginate(
            collected,
            lambda cursor: self._raw(collected.item_id, token, cursor),
            self._pages,
            commit,
            self._metrics.pages.inc,
            page_limit=page_limit,
        )

    def _raw(self, item_id: str, token: str, cursor: str) -> Awaitable[bytes]:
        async def paced() -> bytes:  # every attempt, retries included, within the Item's rate limit
            async with self._pacer.call(item_id) as waited:
                if waited:
                    self._metrics.pacing_seconds.inc(waited)
                try:
                    return await self._plaid.sync_page_raw(token, cursor)
                except RateLimited:
                    await self._pacer.saturate(item_id)
                    raise

        return self._plaid_call("sync", paced)

    async def _refresh(self, token: str) -> None:
        """Best effort, optional in Plaid's docs: a refresh refused for any reason (rate-limited, down, the
        product not enabled: INVALID_PRODUCT) is counted in plaid_requests_total and logged, and the sync
        goes on (an Item that needs attention says so to /transactions/sync too)."""
        try:
            await self._plaid_call("refresh", lambda: self._plaid.refresh(token), retry=False)
        except SyncError as error:
            log.warning("refresh skipped", error_code=error.error_code, error_type=error.error_type)

    async def _plaid_call(self, endpoint: str, call: Callable[[], Awaitable[T]], *, retry: bool = True) -> T:
        async def timed() -> T:
            t0 = time.perf_counter()
            try:
                result = await call()
            except SyncError as error:
                self._metrics.plaid_requests.labels(endpoint, error.error_code).inc()
                raise
            finally:
                self._metrics.plaid_seconds.labels(endpoint).observe(time.perf_counter() - t0)
            self._metrics.plaid_requests.labels(endpoint, "ok").inc()
            return result

        return await (self._retrying(timed, endpoint) if retry else timed())

    async def _retrying(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        """`call`, retried on RetryableError after a jittered backoff (a rate limit's own, longer one), a
        bounded number of times."""

        def retrying(error: BaseException, attempt: int) -> None:
            assert isinstance(error, RetryableError)
            self._metrics.retries.labels(
                "rate_limited" if isinstance(error, RateLimited) else "unavailable"
            ).inc()
            log.info("retrying", call=what, error_code=error.error_code, attempt=attempt)

        return await retry(
            call, backoff=self._backoff_for, retry_on=(RetryableError,), stopping=None, on_retry=retrying
        )

    def _backoff_for(self, error: BaseException) -> Backoff:
        policy = self._policy
        return policy.rate_limit_backoff if isinstance(error, RateLimited) else policy.call_backoff

    # -- outcomes -----------------------------------------------------------------------------------------

    def _record(
        self, claim: Claim, c: Collected, started: dt.datetime, outcome: str, **extra: object
    ) -> RunRecord:
        changed = c.changes > 0
        return RunRecord(
            run_id=c.run_id,
            item_id=claim.item_id,
            triggers=claim.triggers or ("retry",),
            outcome=outcome,
            pages=c.pages,
            restarts=c.restarts,
            added=c.added,
            modified=c.modified,
            removed=c.removed,
            started_at=started,
            finished_at=_now(),
            first_sequence=c.first_sequence if changed else None,
            last_sequence=c.last_sequence if changed else None,
            **extra,  # type: ignore[arg-type]
        )

    def _report(self, record: RunRecord) -> dict[str, Any]:
        triggers = list(record.triggers)
        return dict(
            item_id=record.item_id,
            run_id=record.run_id,
            trigger=triggers[0],
            triggers=triggers,
            pages=record.pages,
            restarts=record.restarts,
            added=record.added,
            modified=record.modified,
            removed=record.removed,
            duration_ms=record.duration_ms,
            started_at=record.started_at,
            finished_at=record.finished_at,
        )

    async def _commit(self, claim: Claim, c: Collected, started: dt.datetime) -> str:
        outcome = "not_ready" if c.not_ready else "completed"
        now = _now()
        vanished: list[StagedEvent] = []
        if c.restarts and c.last_page is not None:
            last = c.last_page
            gone = await self._repo.vanished(
                claim.item_id, c.restarts, [t for t, _ in last.added_ids] + list(last.mentioned)
            )
            vanished = vanished_events(c, gone, now)
        record = self._record(claim, c, started, outcome)
        completed = events.SyncCompleted(
            **self._report(record),
            transactions_update_status=c.update_status,
            last_sync_sequence=c.last_sequence,
        )
        outgoing = [
            *account_events(c, now),
            (
                events.SYNC_RUNS_TOPIC,
                claim.item_id,
                _envelope(events.SYNC_COMPLETED, claim.item_id, completed),
            ),
        ]
        committed = await self._repo.commit_run(
            claim,
            record,
            next_cursor=c.next_cursor,
            last_sequence=c.last_sequence,
            update_status=c.update_status,
            at=(c.committed_cursor, c.committed_sequence),
            staged=c.last_batch,
            events=outgoing,
            vanished=vanished,
            retry_after=self._not_ready_retry if c.not_ready else None,
        )
        if not committed:
            return self._fenced(c)
        self._metrics.changes.labels("added").inc(c.added)
        self._metrics.changes.labels("modified").inc(c.modified)
        self._metrics.changes.labels("removed").inc(c.removed)
        return outcome

    def _fenced(self, c: Collected) -> str:
        self._metrics.leases_lost.inc()
        log.warning("run fenced off: lease or cursor moved", item_id=c.item_id, run_id=c.run_id)
        return "fenced"

    async def _fail(self, claim: Claim, c: Collected, started: dt.datetime, error: SyncError) -> str:
        """A failed run: its own history row and SyncFailed (its own run id: the pages it committed stay
        committed, and the loop's run, carried on by a later run, reports them when it completes)."""
        attempt = claim.failed_runs + 1
        next_step, delay = self._policy.after_failed_run(error, attempt)
        record = self._record(
            claim,
            c,
            started,
            "failed",
            error_code=error.error_code,
            error_type=error.error_type,
            retryable=error.retryable,
        )
        record = dataclasses.replace(
            record, run_id=str(uuid.uuid4()), started_at=started, first_sequence=None, last_sequence=None
        )
        failed = events.SyncFailed(
            **self._report(record),
            error_code=error.error_code,
            error_type=error.error_type,
            retryable=next_step == "retry",
            needs_attention=next_step == "pause",
            attempt=attempt,
        )
        event = _envelope(events.SYNC_FAILED, claim.item_id, failed)
        ok = await self._repo.fail_run(
            claim,
            record,
            next_step=next_step,
            delay=delay,
            events=[(events.SYNC_RUNS_TOPIC, claim.item_id, event)],
        )
        if not ok:
            self._metrics.leases_lost.inc()
            return "fenced"
        self._metrics.run_failures.labels(error.error_code, next_step).inc()
        if isinstance(error, MutationDuringPagination):
            self._metrics.restarts_exhausted.labels(next_step).inc()
        log.warning(
            "sync run failed",
            item_id=claim.item_id,
            error_code=error.error_code,
            next=next_step,
            retry_in=round(delay, 1),
            attempt=attempt,
        )
        return "failed"


class _Fenced(Exception):
    """A page's checkpoint was fenced off: the lease or the cursor moved; the run stops."""


def _collected(claim: Claim, now: dt.datetime) -> Collected:
    """The run's loop: the one an earlier run left open (carried on from the committed cursor), or a new
    one from the Item's cursor."""
    loop = claim.loop
    if loop is None and claim.from_scratch:
        # a resync from scratch: a new loop from the empty cursor (Plaid sends the whole history again, as
        # newer versions of the same ids), fenced on the cursor the Item has now; a restart or a crash
        # carries it on from the empty cursor too (its first page commit records it as the loop's start)
        fresh = Collected(claim.item_id, str(uuid.uuid4()), "", claim.last_sequence + 1, now)
        fresh.committed_cursor = claim.cursor
        return fresh
    if loop is None:
        return Collected(claim.item_id, str(uuid.uuid4()), claim.cursor, claim.last_sequence + 1, now)
    return Collected(
        claim.item_id,
        loop.run_id,
        loop.start_cursor,
        loop.first_sequence,
        loop.started_at,
        pages=loop.pages,
        restarts=loop.restarts,
        added=loop.added,
        modified=loop.modified,
        removed=loop.removed,
        next_cursor=claim.cursor,
        committed_cursor=claim.cursor,
        committed_sequence=claim.last_sequence,
        resumed=True,
    )


def _page_commit(c: Collected, checkpoint: Checkpoint) -> PageCommit:
    added, modified, removed = checkpoint.counts
    loop = OpenLoop(
        c.run_id,
        c.start_cursor,
        c.started_at,
        c.first_sequence,
        checkpoint.page,
        added,
        modified,
        removed,
        checkpoint.pass_,
    )
    summary = checkpoint.summary
    return PageCommit(checkpoint.cursor, checkpoint.last_sequence, loop, summary.added_ids, summary.mentioned)


def _envelope(event_type: str, item_id: str, payload: events.SyncCompleted | events.SyncFailed) -> Envelope:
    return Envelope.new(source=events.SOURCE, type=event_type, subject=item_id, data=payload)
