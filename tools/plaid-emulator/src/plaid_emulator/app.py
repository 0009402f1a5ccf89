"""The FastAPI application: Plaid's endpoints, the control API, the Link stand-in, background housekeeping.

`create_app(config)` builds a fresh Emulator (all state lives there, reachable as `app.state.emulator`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from . import control, link_ui, snapshot
from .auth import check_credentials, client_id_of
from .config import EmulatorConfig
from .data.institutions import SANDBOX
from .errors import PlaidApiError
from .ids import request_id
from .routes import item, link, sandbox, transactions
from .routes.base import Call, Route
from .state import Emulator

log = logging.getLogger("plaid_emulator")
PLAID_ROUTES: dict[str, Route] = {**link.ROUTES, **item.ROUTES, **transactions.ROUTES, **sandbox.ROUTES}
_JSON = "application/json"


def create_app(config: EmulatorConfig | None = None) -> FastAPI:
    emu = Emulator(config or EmulatorConfig())
    snapshot_path = Path(emu.config.snapshot) if emu.config.snapshot else None
    if snapshot_path is not None:
        log.info("restored %d Items from %s", snapshot.load(emu, snapshot_path), snapshot_path)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(_housekeeping(emu)),
            asyncio.create_task(emu.life.prepare_in_background()),
        ]
        if snapshot_path is not None:
            tasks.append(asyncio.create_task(_snapshots(emu, snapshot_path)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await emu.webhooks.aclose()
            if snapshot_path is not None:
                snapshot.save(emu, snapshot_path)

    app = FastAPI(
        title="Plaid emulator",
        lifespan=lifespan,
        docs_url="/emulator/docs",
        redoc_url=None,
        openapi_url="/emulator/openapi.json",
    )
    app.state.emulator = emu
    for path, route in PLAID_ROUTES.items():
        app.add_api_route(path, _endpoint(emu, path, route), methods=["POST"], include_in_schema=False)
    app.include_router(control.router(emu))
    app.include_router(link_ui.router(emu))

    @app.exception_handler(404)
    async def not_found(_: Request, __: Exception) -> Response:
        return _error(PlaidApiError("NOT_FOUND"), request_id())

    return app


async def _housekeeping(emu: Emulator) -> None:
    while True:
        await asyncio.sleep(emu.config.tick_interval)
        try:
            emu.housekeep_all()
        except Exception:
            log.exception("housekeeping failed")


async def _snapshots(emu: Emulator, path: Path) -> None:
    while True:
        await asyncio.sleep(emu.config.snapshot_interval)
        try:
            snapshot.save(emu, path)
        except Exception:
            log.exception("snapshot to %s failed", path)


def _error(error: PlaidApiError, rid: str) -> Response:
    return Response(orjson.dumps(error.body(rid)), status_code=error.status, media_type=_JSON)


def _endpoint(emu: Emulator, path: str, route: Route) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        rid = request_id()
        try:
            raw = await request.body()
            try:
                body: Any = json.loads(raw) if raw else {}
            except ValueError:
                raise PlaidApiError("INVALID_BODY") from None
            if not isinstance(body, dict):
                raise PlaidApiError("INVALID_BODY")
            check_credentials(request.headers, body, emu.config.client_id, emu.config.secret)
            route.check_required(body)
            the_item = emu.item_for_token(body.get("access_token")) if route.needs_item else None
            if the_item is not None:
                emu.life.housekeep(the_item)
            item_id = the_item.item_id if the_item else None
            emu.faults.rate_limit(path, client_id_of(request.headers, body) or "", item_id)
            latency, fault = emu.faults.check(path, item_id)
            if latency:
                await asyncio.sleep(latency)
            if fault is not None:
                raise fault
            if (
                the_item is not None
                and SANDBOX[the_item.institution_id].health == "DEGRADED"
                and path.startswith(("/transactions/", "/accounts/"))
                and emu.faults.degraded_roll()
            ):
                raise PlaidApiError("INSTITUTION_NOT_RESPONDING")
            result = route.handler(Call(emu, body, rid, the_item))
        except PlaidApiError as exc:
            log.info("%s -> %s %s", path, exc.status, exc.code)
            return _error(exc, rid)
        except Exception:
            log.exception("%s failed", path)
            return _error(PlaidApiError("INTERNAL_SERVER_ERROR"), rid)
        if isinstance(result, bytes):
            return Response(result, media_type=_JSON)
        result["request_id"] = rid
        return Response(orjson.dumps(result), media_type=_JSON)

    endpoint.__name__ = "plaid" + path.replace("/", "_")
    return endpoint
