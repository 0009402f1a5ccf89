"""create_http_app: probes, readiness against the real PostgreSQL and Kafka, request ids, access lines,
route-template metrics and the one error shape."""

import asyncio
import io
import json

import asyncpg
import httpx
import pytest
from bankstream_common.http import create_http_app
from bankstream_common.logging import configure_logging
from bankstream_common.metrics import create_registry
from bankstream_common.readiness import ReadinessCheck, kafka_check, postgres_check
from bankstream_common.testing.service_process import closed_port
from fastapi import FastAPI, HTTPException
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

ACCESS = "access-sandbox-de3ce8ef-33f8-452c-a685-8671031fc0f6"


class Body(BaseModel):
    amount: int
    access_token: str


def build(checks: dict[str, ReadinessCheck] | None = None) -> tuple[FastAPI, CollectorRegistry]:
    registry = create_registry(runtime_collectors=False)
    app = create_http_app(service="demo-svc", settings=None, registry=registry, readiness=checks or {})

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        if item_id == "missing":
            raise HTTPException(404, "no such item")
        if item_id == "boom":
            raise RuntimeError(f"exploded with {ACCESS}")
        return {"item_id": item_id}

    @app.post("/transfers")
    async def transfer(body: Body) -> dict[str, int]:
        return {"amount": body.amount}

    return app, registry


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def ok() -> None:
    return None


async def refused() -> None:
    raise ConnectionRefusedError("connect to postgresql://app:hunter2@db/app refused")


async def hangs() -> None:
    await asyncio.sleep(60)


async def test_healthz_and_readyz_when_every_check_passes() -> None:
    app, _ = build({"postgres": ok, "kafka": ok})
    async with client(app) as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        ready = await c.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert {k: v["status"] for k, v in ready.json()["checks"].items()} == {"postgres": "ok", "kafka": "ok"}


async def test_readyz_is_503_naming_each_failing_check_with_a_secret_free_reason() -> None:
    app, _ = build({"postgres": refused, "kafka": ok, "slow": hangs})
    app_checks_started = asyncio.get_running_loop().time()
    async with client(app) as c:
        ready = await c.get("/readyz")
        assert (await c.get("/healthz")).status_code == 200
    assert asyncio.get_running_loop().time() - app_checks_started < 5
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["kafka"]["status"] == "ok"
    assert body["checks"]["postgres"]["status"] == "failing"
    assert body["checks"]["postgres"]["reason"].startswith("ConnectionRefusedError")
    assert body["checks"]["slow"] == {"status": "failing", "reason": "timed out"}
    assert "hunter2" not in ready.text


@pytest.mark.integration
async def test_real_checks_pass_against_the_real_servers(
    database_url: str, kafka_bootstrap_servers: str
) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=0)
    kafka = kafka_check(kafka_bootstrap_servers)
    try:
        app, _ = build({"postgres": postgres_check(pool), "kafka": kafka})
        async with client(app) as c:
            first, second = await c.get("/readyz"), await c.get("/readyz")  # the second reuses the client
        assert (first.status_code, second.status_code) == (200, 200), first.text
    finally:
        await kafka.aclose()
        await pool.close()


@pytest.mark.integration
async def test_real_checks_fail_fast_against_closed_ports() -> None:
    pool = await asyncpg.create_pool(
        f"postgresql://postgres:pw-s3cr3t@127.0.0.1:{closed_port()}/x", min_size=0
    )
    kafka = kafka_check(f"127.0.0.1:{closed_port()}")
    try:
        app, _ = build({"postgres": postgres_check(pool), "kafka": kafka})
        async with client(app) as c:
            ready = await c.get("/readyz")
        assert ready.status_code == 503
        assert {k: v["status"] for k, v in ready.json()["checks"].items()} == {
            "postgres": "failing",
            "kafka": "failing",
        }
        assert "pw-s3cr3t" not in ready.text
    finally:
        await kafka.aclose()
        await pool.close()


async def test_request_id_is_echoed_or_minted_and_bound_to_the_access_line() -> None:
    out = io.StringIO()
    configure_logging("demo-svc", "DEBUG", stream=out)
    try:
        app, _ = build()
        async with client(app) as c:
            given = await c.get(
                "/items/abc", headers={"X-Request-ID": "req-123", "Authorization": "Bearer t0k"}
            )
            minted = await c.get("/items/def")
            odd = await c.get("/items/ghi", headers={"X-Request-ID": "bad id\twith spaces"})
    finally:
        configure_logging("demo-svc", "INFO", stream=io.StringIO())
    assert given.headers["x-request-id"] == "req-123"
    assert len(minted.headers["x-request-id"]) == 32
    assert odd.headers["x-request-id"] != "bad id\twith spaces"
    access = [json.loads(x) for x in out.getvalue().splitlines() if json.loads(x)["event"] == "http request"]
    assert [a["request_id"] for a in access] == [
        "req-123",
        minted.headers["x-request-id"],
        odd.headers["x-request-id"],
    ]
    assert {(a["method"], a["route"], a["status"]) for a in access} == {("GET", "/items/{item_id}", 200)}
    server_lines = "\n".join(x for x in out.getvalue().splitlines() if json.loads(x)["logger"] != "httpx")
    assert "t0k" not in server_lines and "/items/abc" not in server_lines  # no headers, no raw paths


async def test_metrics_use_the_route_template_never_the_raw_path() -> None:
    app, _ = build()
    async with client(app) as c:
        for item in ("a", "b", "missing"):
            await c.get(f"/items/{item}")
        await c.get("/no/such/route")
        text = (await c.get("/metrics")).text
    assert 'demo_svc_http_requests_total{method="GET",route="/items/{item_id}",status="200"} 2.0' in text
    assert 'demo_svc_http_requests_total{method="GET",route="/items/{item_id}",status="404"} 1.0' in text
    assert 'demo_svc_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert "/no/such/route" not in text and 'route="/items/a"' not in text
    assert 'demo_svc_http_request_duration_seconds_count{method="GET",route="/items/{item_id}"} 3.0' in text


async def test_errors_share_one_shape() -> None:
    app, registry = build()
    async with client(app) as c:
        not_found = await c.get("/items/missing")
        no_route = await c.get("/nope")
        wrong_method = await c.delete("/items/x")
        boom = await c.get("/items/boom")
        invalid = await c.post("/transfers", json={"amount": "lots", "access_token": 7})
    assert not_found.status_code == 404
    assert not_found.json() == {"error": {"code": "not_found", "message": "no such item"}}
    assert no_route.json()["error"]["code"] == "not_found"
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (405, "method_not_allowed")
    assert boom.status_code == 500
    assert boom.json() == {"error": {"code": "internal_error", "message": "internal error"}}
    assert ACCESS not in boom.text
    assert invalid.status_code == 422
    error = invalid.json()["error"]
    assert (error["code"], error["message"]) == ("validation_error", "the request is invalid")
    assert {d["loc"] for d in error["details"]} == {"body.amount", "body.access_token"}
    assert "lots" not in invalid.text  # the offending input is never echoed
    assert (
        registry.get_sample_value(
            "demo_svc_http_requests_total", {"method": "GET", "route": "/items/{item_id}", "status": "500"}
        )
        == 1.0
    )


async def test_unhandled_errors_are_logged_once_with_the_request_id_and_redacted() -> None:
    out = io.StringIO()
    configure_logging("demo-svc", "INFO", stream=out)
    try:
        app, _ = build()
        async with client(app) as c:
            await c.get("/items/boom", headers={"X-Request-ID": "req-boom"})
    finally:
        configure_logging("demo-svc", "INFO", stream=io.StringIO())
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    errors = [x for x in lines if x["event"] == "unhandled error"]
    assert len(errors) == 1 and errors[0]["request_id"] == "req-boom"
    assert "RuntimeError: exploded with [REDACTED]" in errors[0]["exception"]
    assert ACCESS not in out.getvalue()
