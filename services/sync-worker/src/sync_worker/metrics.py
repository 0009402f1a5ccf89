"""Every metric sync-worker exports, declared here and nowhere else (names: `sync_worker_<thing>_<unit>`).

Labels are small enums: `outcome`, `trigger` (the run's first trigger kind), `endpoint`, `error_code`
(Plaid's codes and ours: a bounded set), `change`, `reason`. Never an item or account id.
"""

from bankstream_common.metrics import HttpMetrics, MetricFactory
from bankstream_common.pipeline_metrics import PipelineMetrics
from prometheus_client import CollectorRegistry

SERVICE = "sync-worker"
RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        factory = MetricFactory(SERVICE, registry)
        self.http = HttpMetrics(factory)
        self.pipeline = PipelineMetrics(SERVICE, registry)
        self.triggers = factory.counter(
            "sync_triggers_total",
            "Incoming events that asked for (or stopped) syncing, by effect.",
            ["effect"],
        )
        self.runs = factory.counter(
            "sync_runs_total",
            "Sync runs finished, by outcome (completed, not_ready, failed, fenced, crashed) and first "
            "trigger.",
            ["outcome", "trigger"],
        )
        self.run_failures = factory.counter(
            "sync_run_failures_total",
            "Failed sync runs, by error code and what follows.",
            ["error_code", "next"],
        )
        self.run_seconds = factory.histogram(
            "sync_run_duration_seconds", "Wall time of a sync run, token to commit.", buckets=RUN_BUCKETS
        )
        self.runs_in_progress = factory.gauge("sync_runs_in_progress", "Sync runs running in this process.")
        self.changes = factory.counter(
            "sync_transactions_total", "Transaction changes committed to the outbox.", ["change"]
        )
        self.pages = factory.counter("sync_pages_total", "/transactions/sync pages collected.")
        self.plaid_requests = factory.counter(
            "plaid_requests_total",
            "Plaid calls, by endpoint and outcome (ok or an error code).",
            ["endpoint", "outcome"],
        )
        self.plaid_seconds = factory.histogram(
            "plaid_request_duration_seconds", "Plaid call latency, parsing included.", ["endpoint"]
        )
        self.retries = factory.counter(
            "sync_retries_total",
            "In-run retries, by reason (rate_limited, unavailable, mutation_restart).",
            ["reason"],
        )
        self.restarts_exhausted = factory.counter(
            "sync_restarts_exhausted_total",
            "Runs whose pagination restarts (MUTATION_DURING_PAGINATION) ran out, by what follows "
            "(retry: after the run backoff; wait: the run attempts ran out too).",
            ["next"],
        )
        self.pacing_seconds = factory.counter(
            "sync_pacing_wait_seconds_total",
            "Seconds /transactions/sync calls waited to stay within Plaid's per-Item rate limit.",
        )
        self.leases_lost = factory.counter(
            "sync_leases_lost_total", "Runs abandoned because their lease or cursor moved (fencing)."
        )
        self.quiet_items = factory.counter(
            "sync_quiet_items_total", "Items marked wanted by the fallback schedule (lost webhooks)."
        )
        self.items = factory.gauge(
            "items",
            "Items this worker syncs, by status and how long ago they last synced (a bucket, never an id).",
            ["status", "freshness"],
        )
        self.oldest_sync_age = factory.gauge(
            "items_oldest_sync_age_seconds",
            "Seconds since the least recently synced Item of a status last synced (0 when none has).",
            ["status"],
        )
