"""Metric naming is enforced, registries are per service, /metrics renders the Prometheus text format."""

import pytest
from bankstream_common.metrics import (
    HttpMetrics,
    MetricFactory,
    create_registry,
    metric_prefix,
    metrics_response,
)
from prometheus_client import CollectorRegistry


def test_names_are_prefixed_with_the_service() -> None:
    registry = CollectorRegistry()
    factory = MetricFactory("link-svc", registry)
    factory.counter("items_linked_total", "Items linked.", ["outcome"]).labels("ok").inc()
    factory.histogram("plaid_call_seconds", "Plaid latency.", ["endpoint"]).labels("sync").observe(0.2)
    factory.gauge("outbox_lag_seconds", "Outbox lag.").set(3)
    assert registry.get_sample_value("link_svc_items_linked_total", {"outcome": "ok"}) == 1.0
    assert registry.get_sample_value("link_svc_plaid_call_seconds_count", {"endpoint": "sync"}) == 1.0
    assert registry.get_sample_value("link_svc_outbox_lag_seconds") == 3.0


@pytest.mark.parametrize(
    ("kind", "name", "labels"),
    [
        ("counter", "items_linked", ()),  # no _total
        ("histogram", "plaid_call_ms", ()),  # not _seconds or _bytes
        ("gauge", "queue_total", ()),  # a gauge named like a counter
        ("counter", "ItemsLinked_total", ()),  # not snake_case
        ("counter", "link_svc_items_total", ()),  # the prefix twice
        ("counter", "items_total", ("item_id",)),  # an unbounded label
        ("counter", "requests_total", ("path",)),
    ],
)
def test_names_and_labels_that_break_the_convention_are_refused(
    kind: str, name: str, labels: tuple[str, ...]
) -> None:
    factory = MetricFactory("link-svc", CollectorRegistry())
    with pytest.raises(ValueError):
        getattr(factory, kind)(name, "doc", labels)


def test_registries_are_independent_so_several_apps_fit_in_one_process() -> None:
    a, b = create_registry(), create_registry()
    HttpMetrics(MetricFactory("ledger-api", a)).observe("GET", "/x", 200, 0.01)
    HttpMetrics(MetricFactory("ledger-api", b))  # would raise "Duplicated timeseries" in a shared registry
    assert a.get_sample_value(
        "ledger_api_http_requests_total", {"method": "GET", "route": "/x", "status": "200"}
    )
    assert (
        b.get_sample_value(
            "ledger_api_http_requests_total", {"method": "GET", "route": "/x", "status": "200"}
        )
        is None
    )


def test_metrics_response_is_prometheus_text_with_process_metrics() -> None:
    registry = create_registry()
    HttpMetrics(MetricFactory("categorizer", registry)).observe("POST", "/items/{item_id}", 201, 0.3)
    response = metrics_response(registry)
    body = bytes(response.body).decode()
    assert response.media_type is not None and response.media_type.startswith("text/plain; version=")
    assert "# TYPE categorizer_http_requests_total counter" in body
    assert (
        'categorizer_http_request_duration_seconds_bucket{le="0.5",method="POST",route="/items/{item_id}"}'
        " 1.0" in body
    )
    assert "process_cpu_seconds_total" in body and "python_info" in body


def test_metric_prefix() -> None:
    assert metric_prefix("sync-worker") == "sync_worker"
    with pytest.raises(ValueError):
        metric_prefix("bad name!")
