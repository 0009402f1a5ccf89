"""The FastAPI app every service starts from: probes, metrics, request context and one error shape.

    GET /healthz   200 {"status": "ok"} while the process can answer at all
    GET /readyz    200 {"status": "ready", "checks": {name: {"status": "ok"}}} when every check passes,
                   503 {"status": "not_ready", "checks": {name: {"status": "failing", "reason": ...}}}
    GET /metrics   Prometheus text from the service's own registry: on the API's port, or, when the
                   settings give a `metrics_port`, only on that port's own listener (`metrics_listener`,
                   served by runtime.serve_service beside the API), never reachable through the API

Every request first passes `http_guard` (bounded bodies and tokens, no NUL). Every 4xx/5xx answers in
the shape of `http_errors`; the request context (id, access line, metrics,
unhandled errors) is `http_context`.
"""

import asyncio
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .http_context import RequestContextMiddleware
from .http_errors import install_error_handlers
from .http_guard import DEFAULT_MAX_BODY_BYTES, HttpGuard
from .metrics import HttpMetrics, MetricFactory, metrics_response
from .readiness import CHECK_TIMEOUT_SECONDS, ReadinessCheck, failure_reason
from .settings import BaseServiceSettings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

log = structlog.get_logger("bankstream.http")


@dataclass(frozen=True)
class MetricsListener:
    """`/metrics` on a port of its own (the only route there); `app.state.metrics_listener` of an API app."""

    host: str
    port: int
    app: Starlette


def metrics_listener(app: FastAPI) -> MetricsListener | None:
    listener: MetricsListener | None = getattr(app.state, "metrics_listener", None)
    return listener


def _metrics_app(registry: CollectorRegistry) -> Starlette:
    async def metrics_route(_: Request) -> Response:
        return metrics_response(registry)

    return Starlette(routes=[Route("/metrics", metrics_route)])


async def run_checks(
    checks: Mapping[str, ReadinessCheck], limit: float = CHECK_TIMEOUT_SECONDS
) -> dict[str, dict[str, str]]:
    """Run every check concurrently, each bounded by `limit` seconds; report each one's outcome."""

    async def one(name: str, check: ReadinessCheck) -> tuple[str, dict[str, str]]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                await check()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; the reason says which
            reason = failure_reason(exc)
            log.warning("readiness check failed", check=name, reason=reason)
            return name, {"status": "failing", "reason": reason}
        return name, {"status": "ok", "duration_ms": f"{(time.perf_counter() - started) * 1000:.1f}"}

    return dict(await asyncio.gather(*(one(n, c) for n, c in checks.items())))


def create_http_app(
    *,
    service: str,
    settings: BaseServiceSettings | None,
    registry: CollectorRegistry,
    readiness: Mapping[str, ReadinessCheck],
    http_metrics: HttpMetrics | None = None,
    lifespan: Lifespan | None = None,
    check_timeout: float = CHECK_TIMEOUT_SECONDS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """A FastAPI app with the probes, `/metrics`, the guard (`http_guard`: body and token size, NUL, response
    headers), request context middleware and the error shape. Paths are exact: no trailing-slash redirect
    (it would reflect the Host header)."""
    dev = settings is not None and settings.env == "dev"
    app = FastAPI(
        title=service,
        lifespan=lifespan,
        docs_url="/docs" if dev else None,
        redoc_url=None,
        openapi_url="/openapi.json" if dev else None,
        redirect_slashes=False,
    )
    metrics = http_metrics or HttpMetrics(MetricFactory(service, registry))
    app.add_middleware(HttpGuard, max_body_bytes=max_body_bytes, body_limits=body_limits)
    app.add_middleware(
        RequestContextMiddleware, metrics=metrics
    )  # outermost: a refusal gets an id and a line
    install_error_handlers(app)
    checks = dict(readiness)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        results = await run_checks(checks, check_timeout)
        ready = all(r["status"] == "ok" for r in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": results},
            status_code=200 if ready else 503,
        )

    if settings is not None and settings.metrics_port is not None:
        app.state.metrics_listener = MetricsListener(
            settings.metrics_host, settings.metrics_port, _metrics_app(registry)
        )
    else:

        @app.get("/metrics", include_in_schema=False)
        async def metrics_route() -> Response:
            return metrics_response(registry)

    return app
