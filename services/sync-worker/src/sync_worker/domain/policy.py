"""How hard a run tries, and what follows a failed run. Nothing retries forever.

Inside a run, one Plaid call that fails with a RetryableError is retried after a backoff delay, up to
`call_attempts` times, keeping the pages already collected (a 429 or a 5xx does not invalidate the
pagination). MUTATION_DURING_PAGINATION restarts the loop from its start cursor after `restart_backoff`,
up to `max_restarts` times in a run. A run asks for `max_pages` pages at most.
A run that still fails is recorded and published (SyncFailed); then, by error class:

    ItemNeedsAttention / ItemUnknown   the Item stops (paused / removed) until a repair or relink
    retryable (RetryableError, restarts that ran out: MutationDuringPagination)
                                       the Item is retried after `run_backoff` (exponential, jittered),
                                       `run_attempts` runs at most; then it waits for the next trigger
                                       or the quiet-Item fallback
    anything else                      not retried; waits for the next trigger

A run that crashes (an error that is not a SyncError: a defect, the database failing mid-run) records
nothing but is not claimed again at once: the scheduler holds the Item back by `run_delay`, growing with
its consecutive failures up to `run_backoff.cap`, and retries it without a limit (a success resets it).
"""

from dataclasses import dataclass, field
from typing import Literal

from bankstream_common.backoff import Backoff

from .errors import ItemNeedsAttention, ItemUnknown, SyncError

Next = Literal["retry", "pause", "remove", "wait"]


@dataclass(frozen=True)
class RetryPolicy:
    call_backoff: Backoff = field(default_factory=lambda: Backoff(base=0.5, cap=20.0, max_attempts=5))
    rate_limit_backoff: Backoff = field(
        default_factory=lambda: Backoff(base=2.0, cap=60.0, max_attempts=6, floor=2.0)
    )
    max_restarts: int = 5
    restart_backoff: Backoff = field(default_factory=lambda: Backoff(base=0.5, cap=10.0))
    run_backoff: Backoff = field(default_factory=lambda: Backoff(base=30.0, cap=1800.0, max_attempts=5))
    # pages in one run: 1,000,000 transactions, 40 min at Plaid's 50 calls a minute; then the run fails
    # (TOO_MANY_PAGES) and the next trigger carries its loop on from the last committed page
    max_pages: int = 2000

    def after_failed_run(self, error: SyncError, attempt: int) -> tuple[Next, float]:
        """What follows the `attempt`-th consecutive failed run, and after how many seconds."""
        if isinstance(error, ItemNeedsAttention):
            return "pause", 0.0
        if isinstance(error, ItemUnknown):
            return "remove", 0.0
        if error.retryable and attempt < self.run_backoff.max_attempts:
            return "retry", self.run_delay(attempt)
        return "wait", 0.0

    def run_delay(self, attempt: int) -> float:
        """The pause before another run after the `attempt`-th consecutive failed (or crashed) run: the run
        backoff with equal jitter (never less than half of it), capped, without an attempt limit."""
        base = min(self.run_backoff.cap, self.run_backoff.base * 2.0 ** min(attempt - 1, 30))
        return base / 2 + self.run_backoff.delay(attempt - 1) / 2
