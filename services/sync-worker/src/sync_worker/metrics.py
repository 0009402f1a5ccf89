"""Every metric sync-worker exports, declared here and nowhere else (names: `sync_worker_<thing>_<unit>`)."""

from bankstream_common.metrics import HttpMetrics, MetricFactory
from prometheus_client import CollectorRegistry

SERVICE = "sync-worker"


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        factory = MetricFactory(SERVICE, registry)
        self.http = HttpMetrics(factory)
