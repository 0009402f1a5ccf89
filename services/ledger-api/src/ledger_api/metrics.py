"""Every metric ledger-api exports, declared here and nowhere else (names: `ledger_api_<thing>_<unit>`)."""

from bankstream_common.metrics import HttpMetrics, MetricFactory
from prometheus_client import CollectorRegistry

SERVICE = "ledger-api"


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        factory = MetricFactory(SERVICE, registry)
        self.http = HttpMetrics(factory)
