"""Every metric ledger-api exports, declared here and nowhere else (names: `ledger_api_<thing>_<unit>`)."""

from bankstream_common.metrics import HttpMetrics, MetricFactory
from bankstream_common.pipeline_metrics import PipelineMetrics
from prometheus_client import CollectorRegistry

SERVICE = "ledger-api"
# an event reaches the ledger in well under a second when all is well; minutes when a stage is behind
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        factory = MetricFactory(SERVICE, registry)
        self.http = HttpMetrics(factory)

        # -- projections (the consumer that fills the ledger) ------------------------------------------
        self.pipeline = PipelineMetrics(SERVICE, registry)
        self.projected = factory.counter(
            "projection_events_total",
            "Events the projections read, by event type and outcome (applied, stale, ignored).",
            ["type", "outcome"],
        )
        self.projection_batches = factory.counter(
            "projection_batches_total", "Projection transactions (batches of events) committed or tried."
        )
        self.projection_apply = factory.histogram(
            "projection_apply_seconds", "Time to project one batch (its transaction's statements)."
        )
        self.projection_lag = factory.histogram(
            "projection_lag_seconds",
            "From an event's `time` (when its producer emitted it) to its projection into the ledger.",
            buckets=LAG_BUCKETS,
        )
        # -- end of projections ------------------------------------------------------------------------

        # -- the read and edit API ------------------------------------------------------------------------
        self.auth_failures = factory.counter(
            "auth_failures_total", "Requests refused for want of a valid token or scope.", ["outcome"]
        )
        self.edits = factory.counter(
            "transaction_edits_total", "User edits of transactions, by what they changed.", ["kind"]
        )
        self.refreshes = factory.counter(
            "refresh_requests_total", "On-demand refreshes asked for, by outcome.", ["outcome"]
        )
        self.streams_open = factory.gauge("streams_open", "Server-Sent Event streams open now.")
        self.stream_events = factory.counter("stream_events_total", "Changes sent over SSE streams.")

        # -- reconciliations and CSV imports --------------------------------------------------------------
        self.reconciliations = factory.counter("reconciliations_total", "Reconciliations answered and kept.")
        self.import_rows = factory.counter(
            "import_rows_total", "CSV lines of imports, by outcome (imported, duplicate, bad).", ["outcome"]
        )
        self.imports = factory.counter("imports_total", "CSV import jobs, by outcome.", ["outcome"])
        self.import_batch = factory.histogram(
            "import_batch_seconds",
            "Time to write one batch of an import (its one transaction; its preparation, done while the "
            "previous batch writes, is not counted).",
        )
