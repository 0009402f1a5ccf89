"""Prometheus plumbing: one registry per service, names that follow one rule, and the `/metrics` body.

A service declares all its metrics in its own `metrics.py` through a `MetricFactory`, which prefixes every
name with the service (`link-svc` -> `link_svc_`) and refuses names that break the convention:

    counters    <svc>_<thing>_total
    histograms  <svc>_<thing>_seconds | _bytes
    gauges      <svc>_<thing>[_seconds|_bytes|...], never _total

Labels are small enums; a label named `id`, `*_id`, `path` or `url` is refused (unbounded cardinality).
"""

import re
from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.responses import Response

_NAME = re.compile(r"^[a-z][a-z0-9_]*[a-z0-9]$")
_FORBIDDEN_LABELS = re.compile(r"^(id|.*_id|path|url|email|user)$")
HISTOGRAM_UNITS = ("_seconds", "_bytes")

# request latencies of an API in front of PostgreSQL and Plaid: 5 ms .. 30 s
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def metric_prefix(service: str) -> str:
    """`link-svc` -> `link_svc`."""
    prefix = service.replace("-", "_").lower()
    if not _NAME.match(prefix):
        raise ValueError(f"service name {service!r} does not make a metric prefix")
    return prefix


def create_registry(*, runtime_collectors: bool = True) -> CollectorRegistry:
    """A registry of the service's own (not the process-global default), with process/platform/GC metrics."""
    registry = CollectorRegistry(auto_describe=True)
    if runtime_collectors:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return registry


def metrics_response(registry: CollectorRegistry) -> Response:
    """The `/metrics` body in the Prometheus text format, with its content type."""
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class MetricFactory:
    """Creates a service's metrics in its registry, prefixed and checked against the naming rule."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.prefix = metric_prefix(service)
        self.registry = registry

    def counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        if not name.endswith("_total"):
            raise ValueError(f"counter {name!r} must end with _total")
        return Counter(self._name(name), doc, self._labels(labels), registry=self.registry)

    def histogram(
        self,
        name: str,
        doc: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        if not name.endswith(HISTOGRAM_UNITS):
            raise ValueError(f"histogram {name!r} must end with one of {HISTOGRAM_UNITS}")
        return Histogram(
            self._name(name), doc, self._labels(labels), registry=self.registry, buckets=tuple(buckets)
        )

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        if name.endswith("_total"):
            raise ValueError(f"gauge {name!r} must not end with _total (that is a counter)")
        return Gauge(self._name(name), doc, self._labels(labels), registry=self.registry)

    def _name(self, name: str) -> str:
        if not _NAME.match(name) or "__" in name:
            raise ValueError(f"metric name {name!r} must be lower snake_case")
        if name.startswith(self.prefix + "_"):
            raise ValueError(f"metric name {name!r} must not repeat the service prefix: it is added")
        return f"{self.prefix}_{name}"

    @staticmethod
    def _labels(labels: Sequence[str]) -> list[str]:
        for label in labels:
            if _FORBIDDEN_LABELS.match(label):
                raise ValueError(f"label {label!r} is unbounded: labels are small enums, never ids or paths")
        return list(labels)


class HttpMetrics:
    """The metrics every HTTP server of ours exports, labelled by route template, never the raw path."""

    def __init__(self, factory: MetricFactory) -> None:
        self.requests = factory.counter(
            "http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
        )
        self.duration = factory.histogram(
            "http_request_duration_seconds", "Time to answer an HTTP request.", ["method", "route"]
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)


# Ages as a small enum label (`freshness`, `since`), for gauges that count rows by how old a timestamp is:
# how long ago an Item synced, how long it has been in its status. Never the ids themselves.
AGE_BUCKETS = ("under_1h", "under_1d", "under_7d", "over_7d", "never")


def age_bucket_sql(column: str) -> str:
    """A SQL expression naming the `AGE_BUCKETS` entry of timestamp `column` (a trusted identifier)."""
    if not _NAME.match(column):
        raise ValueError(f"not a column name: {column!r}")
    return (
        f"CASE WHEN {column} IS NULL THEN 'never'"
        f" WHEN {column} > now() - interval '1 hour' THEN 'under_1h'"
        f" WHEN {column} > now() - interval '1 day' THEN 'under_1d'"
        f" WHEN {column} > now() - interval '7 days' THEN 'under_7d'"
        " ELSE 'over_7d' END"
    )
