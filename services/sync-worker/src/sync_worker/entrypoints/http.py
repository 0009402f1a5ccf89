"""sync-worker's FastAPI app: the shared probes and /metrics, plus the sync history (read-only).

GET /v1/items/{item_id}/sync            the Item's sync state           404 if unknown (or not yours)
GET /v1/items/{item_id}/sync-runs       its runs, newest first          ?limit=&before=&outcome=
GET /v1/sync-runs/failures              recent failed runs, all Items   ?limit=

Every history route needs `Authorization: Bearer <JWT>` with `items:read`, the scheme and scopes of link-svc
(bankstream_common.auth). A user token sees only its own Items (their owner is learned from the events that
name it: handlers/owners.py); a service token names the user (`?user_id=`) unless it holds `users:all`;
anyone else's Item does not exist (404). The failures of every Item need `admin` or `users:all`.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import asyncpg
from bankstream_common.auth import Authenticator, NotAllowed, Principal, authenticator_from
from bankstream_common.http import create_http_app
from bankstream_common.http_auth import AUTH_ERRORS, Caller, install_auth_errors
from bankstream_common.readiness import ReadinessCheck
from fastapi import APIRouter, FastAPI, HTTPException, Query

from ..adapters import history
from ..config import Settings
from ..metrics import Metrics

ITEMS_READ = "items:read"
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such Item (or not yours)"}}
ForUser = Annotated[
    str | None,
    Query(max_length=200, description="a service token: the user it acts for (a user token acts for itself)"),
]


def create_app(
    settings: Settings,
    metrics: Metrics,
    readiness: Mapping[str, ReadinessCheck],
    pool: asyncpg.Pool | None = None,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    app = create_http_app(
        service=settings.service_name,
        settings=settings,
        registry=metrics.registry,
        http_metrics=metrics.http,
        readiness=readiness,
    )
    if pool is not None:
        app.state.authenticator = authenticator or authenticator_from(settings)
        install_auth_errors(app)
        app.include_router(_history_routes(pool))
    return app


async def _visible(pool: asyncpg.Pool, who: Principal, item_id: str, user_id: str | None) -> None:
    who.require(ITEMS_READ)
    if not who.may_see(await history.owner_of(pool, item_id), on_behalf_of=user_id):
        raise HTTPException(404, "unknown item")


def _history_routes(pool: asyncpg.Pool) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["sync history"], responses=AUTH_ERRORS)

    @router.get("/items/{item_id}/sync", responses=NOT_FOUND)
    async def item_sync_state(item_id: str, who: Caller, user_id: ForUser = None) -> dict[str, Any]:
        await _visible(pool, who, item_id, user_id)
        state = await history.item_state(pool, item_id)
        if state is None:
            raise HTTPException(404, "unknown item")
        return state

    @router.get("/items/{item_id}/sync-runs", responses=NOT_FOUND)
    async def item_sync_runs(
        item_id: str,
        who: Caller,
        user_id: ForUser = None,
        limit: int = Query(50, ge=1, le=500),
        before: dt.datetime | None = None,
        outcome: Literal["completed", "not_ready", "failed"] | None = None,
    ) -> dict[str, Any]:
        await _visible(pool, who, item_id, user_id)
        before = _instant(before)
        return {"runs": await history.runs(pool, item_id, limit=limit, before=before, outcome=outcome)}

    @router.get("/sync-runs/failures")
    async def failures(who: Caller, limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        who.require(ITEMS_READ)
        if not who.every_user:
            raise NotAllowed("every Item's failures need admin or users:all")
        return {"runs": await history.recent_failures(pool, limit=limit)}

    return router


def _instant(value: dt.datetime | None) -> dt.datetime | None:
    """`value` in UTC (a naive one taken as UTC); 422 when it is not an instant a datetime can hold there
    (0001-01-01T00:00:00+01:00 overflowed in the driver: a 500)."""
    if value is None:
        return None
    try:
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    except OverflowError:
        raise HTTPException(422, "before is out of range") from None
