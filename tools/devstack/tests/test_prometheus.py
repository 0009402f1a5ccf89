"""`make run`'s Prometheus, really started: it loads the project's alert rules and scrapes each target under
its service's job name (the targets here serve each service's own metrics registry)."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from bankstream_common.metrics import create_registry
from bankstream_devstack import processes
from bankstream_devstack.prometheus import RULES, Prometheus
from categorizer.metrics import Metrics as CategorizerMetrics
from ledger_api.metrics import Metrics as LedgerMetrics
from link_svc.metrics import Metrics as LinkMetrics
from prometheus_client import CollectorRegistry, generate_latest
from sync_worker.metrics import Metrics as SyncMetrics

pytestmark = pytest.mark.integration

SERVICES = {
    "link-svc": LinkMetrics,
    "sync-worker": SyncMetrics,
    "categorizer": CategorizerMetrics,
    "ledger-api": LedgerMetrics,
}


def serve_metrics(registry: CollectorRegistry) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = generate_latest(registry)
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def targets() -> Iterator[dict[str, str]]:
    servers = {}
    for job, metrics_cls in SERVICES.items():
        metrics = metrics_cls(create_registry())
        if job == "ledger-api":
            metrics.projection_lag.observe(0.3)
        servers[job] = serve_metrics(metrics.registry)
    yield {job: f"127.0.0.1:{s.server_address[1]}" for job, s in servers.items()}
    for server in servers.values():
        server.shutdown()


def test_prometheus_scrapes_every_service_with_the_rules_loaded(
    targets: dict[str, str], tmp_path: Path
) -> None:
    prom = Prometheus(targets, port=processes.free_port(), home=tmp_path)
    prom.start()
    try:
        prom.wait_ready(timeout=60)
        assert prom.target_health() == dict.fromkeys(SERVICES, "up")
        rules = yaml.safe_load(RULES.read_text())["groups"]
        assert prom.rule_count() == sum(len(g["rules"]) for g in rules)
        series = prom.query("ledger_api_projection_lag_seconds_count")
        assert [(s["metric"]["job"], s["value"][1]) for s in series] == [("ledger-api", "1")]
        assert "scraping 4/4 services" in prom.summary()
    finally:
        prom.stop()
    assert prom.proc is not None and prom.proc.poll() is not None
