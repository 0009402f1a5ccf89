"""Every metric ledger-api exports, declared here and nowhere else (names: `ledger_api_<thing>_<unit>`)."""

from bankstream_common.metrics import HttpMetrics, MetricFactory
from bankstream_common.pipeline_metrics import PipelineMetrics
from prometheus_client import CollectorRegistry

SERVICE = "ledger-api"


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
        # -- end of projections ------------------------------------------------------------------------
