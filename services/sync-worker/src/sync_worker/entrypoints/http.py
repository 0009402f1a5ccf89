"""sync-worker's FastAPI app: the shared probes and /metrics, plus the sync history (read-only).

GET /v1/items/{item_id}/sync            the Item's sync state           404 if unknown
GET /v1/items/{item_id}/sync-runs       its runs, newest first          ?limit=&before=&outcome=
GET /v1/sync-runs/failures              recent failed runs, all Items   ?limit=
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

import asyncpg
from bankstream_common.http import create_http_app
from bankstream_common.readiness import ReadinessCheck
from fastapi import FastAPI, HTTPException, Query

from ..adapters import history
from ..config import Settings
from ..metrics import Metrics


def create_app(
    settings: Settings,
    metrics: Metrics,
    readiness: Mapping[str, ReadinessCheck],
    pool: asyncpg.Pool | None = None,
) -> FastAPI:
    app = create_http_app(
        service=settings.service_name,
        settings=settings,
        registry=metrics.registry,
        http_metrics=metrics.http,
        readiness=readiness,
    )
    if pool is not None:
        _history_routes(app, pool)
    return app


def _history_routes(app: FastAPI, pool: asyncpg.Pool) -> None:
    @app.get("/v1/items/{item_id}/sync")
    async def item_sync_state(item_id: str) -> dict[str, Any]:
        state = await history.item_state(pool, item_id)
        if state is None:
            raise HTTPException(404, "unknown item")
        return state

    @app.get("/v1/items/{item_id}/sync-runs")
    async def item_sync_runs(
        item_id: str,
        limit: int = Query(50, ge=1, le=500),
        before: dt.datetime | None = None,
        outcome: Literal["completed", "not_ready", "failed"] | None = None,
    ) -> dict[str, Any]:
        return {"runs": await history.runs(pool, item_id, limit=limit, before=before, outcome=outcome)}

    @app.get("/v1/sync-runs/failures")
    async def failures(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        return {"runs": await history.recent_failures(pool, limit=limit)}
