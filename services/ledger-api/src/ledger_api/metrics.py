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
        self.pipeline = PipelineMetrics(SERVICE, registry)
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
