"""The probe contract every service honours, as checks its own tests call with its `ServiceUnderTest`.

serves_and_stops   /healthz 200, /readyz 200 with the postgres, kafka and workers checks, /metrics in the
                   Prometheus text format with the service's HTTP metric, JSON log lines without
                   secrets, and exit 0 within seconds of SIGTERM
metrics_apart      with `<PREFIX>METRICS_PORT` set: /metrics answers on that port only (404 on the API's
                   port), the API and its probes are unchanged, and both stop on SIGTERM
not_ready_without  with one dependency unreachable: /healthz still 200, /readyz 503 naming that check
                   (and no password in the answer or the logs)
"""

import json
import re
import time
import urllib.error
import urllib.request

from .service_process import ServiceUnderTest, closed_port, free_port, running_service

DB_PASSWORD = "hunter2-not-a-placeholder"  # noqa: S105 - a fake, to prove it never leaks


def serves_and_stops(service: ServiceUnderTest, *, database_url: str, kafka_bootstrap_servers: str) -> None:
    with running_service(
        service, database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap_servers
    ) as proc:
        health = proc.get("/healthz")
        assert (health.status, health.json()) == (200, {"status": "ok"})
        assert health.headers.get("x-request-id")

        # ready once the background work is prepared and running (the `workers` check), seconds after start
        deadline = time.monotonic() + 120  # a loaded machine: the sync-worker starts page processes
        while (ready := proc.get("/readyz")).status != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ready.status == 200, ready.body
        assert ready.json()["status"] == "ready"
        assert {n: c["status"] for n, c in ready.json()["checks"].items()} == {
            "postgres": "ok",
            "kafka": "ok",
            "workers": "ok",
        }

        metrics = proc.get("/metrics")
        assert metrics.status == 200
        assert metrics.headers["content-type"].startswith("text/plain; version=")
        http_total = f"{service.metric_prefix}_http_requests_total"
        assert re.search(rf'{http_total}{{method="GET",route="/readyz",status="200"}} [1-9]', metrics.body)
        assert "process_resident_memory_bytes" in metrics.body

        assert proc.terminate(timeout=10.0) == 0, proc.output()
        lines = [json.loads(line) for line in proc.output().splitlines() if line.strip()]
        assert any(line["event"] == "stopped" and line["exit_code"] == 0 for line in lines)
        assert all(line["service"] == service.script for line in lines)
        assert "test-secret-0f9c2a51" not in proc.output()


def not_ready_without(
    service: ServiceUnderTest, dependency: str, *, database_url: str, kafka_bootstrap_servers: str
) -> None:
    if dependency == "postgres":
        database_url = f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:{closed_port()}/postgres"
    elif dependency == "kafka":
        kafka_bootstrap_servers = f"127.0.0.1:{closed_port()}"
    else:
        raise ValueError(dependency)
    with running_service(
        service, database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap_servers
    ) as proc:
        assert proc.get("/healthz").status == 200
        ready = proc.get("/readyz")
        assert ready.status == 503, ready.body
        checks = ready.json()["checks"]
        assert ready.json()["status"] == "not_ready"
        assert checks[dependency]["status"] == "failing"
        assert checks[dependency]["reason"]
        healthy = {"postgres", "kafka"} - {dependency}
        assert all(checks[name]["status"] == "ok" for name in healthy), checks
        assert proc.terminate() == 0, proc.output()
        assert DB_PASSWORD not in ready.body
        assert DB_PASSWORD not in proc.output()


def metrics_apart(service: ServiceUnderTest, *, database_url: str, kafka_bootstrap_servers: str) -> None:
    port = free_port()
    with running_service(
        service,
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        extra_env={f"{service.env_prefix}METRICS_PORT": str(port)},
    ) as proc:
        assert proc.get("/healthz").status == 200
        on_api = proc.get("/metrics")
        assert on_api.status == 404, on_api.body
        assert "process_resident_memory_bytes" not in on_api.body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            body = r.read().decode()
            assert r.status == 200 and r.headers["content-type"].startswith("text/plain; version=")
        assert (
            f'{service.metric_prefix}_http_requests_total{{method="GET",route="/healthz",status="200"}}'
            in body
        )
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
            raise AssertionError("the metrics port serves only /metrics")
        except urllib.error.HTTPError as e:
            assert e.code == 404
        assert proc.terminate(timeout=10.0) == 0, proc.output()
