"""link-svc's FastAPI app: the shared probes and /metrics, plus this service's own routes."""

from collections.abc import Mapping
from typing import Any

from bankstream_common.auth import Authenticator
from bankstream_common.http import create_http_app
from bankstream_common.readiness import ReadinessCheck
from fastapi import FastAPI

from ..config import Settings
from ..handlers import Deps
from ..metrics import Metrics
from . import api, errors, webhooks


def create_app(
    settings: Settings,
    metrics: Metrics,
    readiness: Mapping[str, ReadinessCheck],
    *,
    deps: Deps | None = None,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    app = create_http_app(
        service=settings.service_name,
        settings=settings,
        registry=metrics.registry,
        http_metrics=metrics.http,
        readiness=readiness,
    )
    app.title = "bankstream link-svc"
    app.version = "1"
    app.description = (
        "The only door through which bank connections enter bankstream. Plaid posts its webhooks to "
        f"`POST {webhooks.PATH}` (no bearer token: the `Plaid-Verification` JWT is checked instead)."
    )
    if deps is not None and authenticator is not None:
        app.state.deps = deps
        app.state.authenticator = authenticator
        errors.install(app, lambda outcome: metrics.auth_failures.labels(outcome).inc())
        app.include_router(api.router)
        app.include_router(api.internal)
        app.router.routes.insert(0, webhooks.route)  # first: the hot path matches at once
        _document_webhook_route(app)
    return app


def _document_webhook_route(app: FastAPI) -> None:
    """Add the bare webhook route, which FastAPI cannot see, to the generated OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        schema["paths"].setdefault(webhooks.PATH, webhooks.OPENAPI_OPERATION)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
