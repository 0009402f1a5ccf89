"""The scheduler: claims due Items under a lease and runs up to `max_concurrent` syncs at once.

It wakes when a trigger commits (NOTIFY `<schema>_sync_wanted`) and polls every `poll_interval` as a
fallback. Each claimed Item runs in its own task, with a lease renewed every `lease_seconds / 3`. The run
is cancelled when a renewal finds the lease gone, and also when no renewal has succeeded for a whole lease
length (the database unreachable, a renewal stuck): by then the lease may have run out and the Item may be
running elsewhere; its commit would be fenced off anyway (the fence is in the commit's transaction). An
Item this process is still running is never claimed again, even when its lease ran out. A run that
crashes (an error that is not a SyncError) releases its Item held back by the run backoff
(`RetryPolicy.run_delay`), its failure counted, so a defect cannot spin on Plaid and the database. Every
`quiet_check_interval` it also marks Items quiet for longer than `quiet_after_seconds` as wanted, because
webhooks get lost. `stop()` lets running syncs finish (the runtime's grace period bounds that), then
releases their leases.
"""

import asyncio
import contextlib
import time
from dataclasses import dataclass

import asyncpg
import structlog

from ..adapters.repository import Claim, SyncRepository
from ..domain.policy import RetryPolicy
from ..metrics import Metrics
from .sync_run import ItemSyncer

log = structlog.get_logger(__name__)
CRASHED = "CRASHED"  # sync_items.last_error_code of an Item whose last run crashed


@dataclass(frozen=True)
class SchedulerConfig:
    channel: str
    max_concurrent: int = 8
    poll_interval: float = 1.0
    quiet_after_seconds: float = 6 * 3600.0
    quiet_check_interval: float = 300.0


class SyncScheduler:
    def __init__(
        self,
        config: SchedulerConfig,
        *,
        repo: SyncRepository,
        syncer: ItemSyncer,
        metrics: Metrics,
        policy: RetryPolicy,
        lease_seconds: float,
    ) -> None:
        self.config = config
        self._repo, self._syncer, self._metrics, self._policy = repo, syncer, metrics, policy
        self._lease_seconds = lease_seconds
        self._running: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.started = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        async with self._repo.pool.acquire() as listener:
            await listener.add_listener(self.config.channel, self._on_notify)
            self.started.set()
            try:
                await self._loop()
            finally:
                with contextlib.suppress(asyncpg.InterfaceError, OSError):
                    await listener.remove_listener(self.config.channel, self._on_notify)
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        last_quiet_check = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() - last_quiet_check > self.config.quiet_check_interval:
                    marked = await self._repo.want_quiet_items(self.config.quiet_after_seconds)
                    self._metrics.quiet_items.inc(marked)
                    last_quiet_check = time.monotonic()
                free, sent = self.config.max_concurrent - len(self._running), time.monotonic()
                for claim in await self._repo.claim_due(free, running=list(self._running)):
                    task = asyncio.create_task(self._run_one(claim, sent), name=f"sync:{claim.item_id}")
                    self._running[claim.item_id] = task
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                log.warning("scheduler could not reach the database", error=type(exc).__name__)
            await self._sleep(self.config.poll_interval)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def _run_one(self, claim: Claim, claimed_at: float) -> None:
        sync = asyncio.create_task(self._syncer.run(claim))
        renewer = asyncio.create_task(self._renew(claim, sync, claimed_at))
        try:
            await sync
        except asyncio.CancelledError:
            # lease lost (release is then a no-op once another claim holds it) or shutting down (the Item
            # stays wanted and another worker takes it at once instead of after the lease expires)
            log.warning("sync run cancelled", item_id=claim.item_id)
            with contextlib.suppress(Exception):
                await asyncio.shield(self._repo.release(claim))
        except Exception:
            # a defect or the database failing mid-run: held back, never claimed again at once
            retry_in = self._policy.run_delay(claim.failed_runs + 1)
            log.exception("sync run crashed", item_id=claim.item_id, retry_in=round(retry_in, 1))
            self._metrics.runs.labels("crashed", (claim.triggers or ("retry",))[0].split(":")[0]).inc()
            with contextlib.suppress(Exception):
                await self._repo.release(claim, crashed=CRASHED, retry_in=retry_in)
        finally:
            renewer.cancel()
            self._running.pop(claim.item_id, None)
            self._wake.set()  # a slot is free: look for more work now

    async def _renew(self, claim: Claim, sync: asyncio.Task[str], claimed_at: float) -> None:
        """Renew the lease every third of its length. `held_until` is a local bound on when the lease
        runs out: the last renewal's (or the claim's) send time plus the lease length, never later than the
        database's own `lease_until` (set after the request was sent)."""
        held_until = claimed_at + self._lease_seconds
        while not sync.done():
            await asyncio.sleep(max(0.0, min(self._lease_seconds / 3, held_until - time.monotonic())))
            sent = time.monotonic()
            try:
                # a renewal that hangs (a lock, a dead connection) must not outlive the lease
                ours = await asyncio.wait_for(self._repo.renew(claim), max(0.001, held_until - sent))
            except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                if time.monotonic() < held_until:
                    log.warning("lease renewal failed", item_id=claim.item_id, error=type(exc).__name__)
                    continue  # the lease is still ours for a while: try again
                ours = False
            if not ours:
                self._metrics.leases_lost.inc()
                log.warning("lease lost or not renewable, cancelling run", item_id=claim.item_id)
                sync.cancel()
                return
            held_until = sent + self._lease_seconds
