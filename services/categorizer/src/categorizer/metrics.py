"""Every metric categorizer exports, declared here and nowhere else (names: `categorizer_<thing>_<unit>`)."""

from bankstream_common.metrics import HttpMetrics, MetricFactory
from bankstream_common.pipeline_metrics import PipelineMetrics
from prometheus_client import CollectorRegistry

SERVICE = "categorizer"


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        factory = MetricFactory(SERVICE, registry)
        self.http = HttpMetrics(factory)
        self.pipeline = PipelineMetrics(SERVICE, registry)
        self.decisions = factory.counter(
            "decisions_total",
            "Categories decided, by tier and where (stream, job, preview).",
            ["source", "stage"],
        )
        self.jobs = factory.counter(
            "jobs_total", "Re-categorization jobs, by reason and outcome.", ["reason", "outcome"]
        )
        self.job_changed = factory.counter("job_recategorized_total", "Transactions re-categorized by jobs.")
        self.auth_failures = factory.counter(
            "auth_failures_total", "Requests refused for want of a valid token or scope.", ["outcome"]
        )
