"""categorizer's FastAPI app: the shared probes and /metrics, plus this service's own routes."""

from collections.abc import Mapping

from bankstream_common.auth import Authenticator
from bankstream_common.http import create_http_app
from bankstream_common.readiness import ReadinessCheck
from fastapi import FastAPI

from ..config import Settings
from ..handlers import Deps
from ..metrics import Metrics
from . import api, errors


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
    app.title = "bankstream categorizer"
    app.version = "1"
    app.description = (
        "Categories for every transaction: a user's rules, what was learned from their corrections, "
        "Plaid's PFC when it is sure, a model, or a flagged fallback. Rules are managed here; "
        "`POST /v1/categorize` previews the decision for any list of transactions."
    )
    if deps is not None and authenticator is not None:
        app.state.deps = deps
        app.state.authenticator = authenticator
        errors.install(app, lambda outcome: metrics.auth_failures.labels(outcome).inc())
        app.include_router(api.router)
    return app
