"""ledger-api's FastAPI app: the shared probes and /metrics, plus the read and edit API."""

from collections.abc import Mapping

from bankstream_common.auth import Authenticator
from bankstream_common.http import create_http_app
from bankstream_common.readiness import ReadinessCheck
from fastapi import FastAPI

from ..config import Settings
from ..handlers import Deps
from ..metrics import Metrics
from . import api, errors, imports, insights_api, reconciliations


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
        body_limits={"/v1/imports": settings.import_max_bytes},
    )
    app.title = "bankstream ledger-api"
    app.version = "1"
    app.description = (
        "The ledger product teams read: transactions with their effective category, accounts, Items, "
        "balances, and a change feed to mirror it. Every route needs `Authorization: Bearer <JWT>` "
        "(`ledger:read`, `ledger:write` to edit); a user token sees only its user, a service token names "
        "the user with `user_id`. Errors: see docs/ledger-api.md."
    )
    if deps is not None and authenticator is not None:
        app.state.deps = deps
        app.state.authenticator = authenticator
        errors.install(app, lambda outcome: metrics.auth_failures.labels(outcome).inc())
        app.include_router(api.router)
        app.include_router(reconciliations.router)
        app.include_router(imports.router)
        app.include_router(insights_api.router)
    return app
