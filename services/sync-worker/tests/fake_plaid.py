"""A scriptable Plaid over HTTP, for answers the emulator never gives (a broken page, a cursor that does not
move, a refresh refused): the worker's real plaid-python client calls it on loopback.

    async with fake_plaid(answer) as plaid:   # answer(path, body) -> (status, JSON-able or raw bytes)
        settings = settings_for(..., emulator_url=plaid.url, ...)
        plaid.calls                           # [(path, body), ...] in call order
"""

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from bankstream_common.testing.waiting import true, wait_until
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Answer = Callable[[str, dict[str, Any]], tuple[int, Any]]
REFRESHED = (200, {"request_id": "r"})


@dataclass
class FakePlaid:
    url: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.calls if p == path)


def page(added: list[dict[str, Any]], cursor: str, more: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "added": added,
        "modified": [],
        "removed": [],
        "accounts": [],
        "next_cursor": cursor,
        "has_more": more,
        "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
        "request_id": "r",
        **extra,
    }


def plaid_error(status: int, error_type: str, error_code: str) -> tuple[int, dict[str, Any]]:
    body = {"error_type": error_type, "error_code": error_code, "error_message": "no", "request_id": "r"}
    return status, body


@contextlib.asynccontextmanager
async def fake_plaid(answer: Answer) -> AsyncIterator[FakePlaid]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    plaid = FakePlaid(f"http://127.0.0.1:{port}")

    async def endpoint(request: Request) -> Response:
        body = await request.json()
        plaid.calls.append((request.url.path, body))
        status, payload = answer(request.url.path, body)
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return Response(raw, status_code=status, media_type="application/json")

    paths = ("/transactions/sync", "/transactions/refresh")
    app = Starlette(routes=[Route(p, endpoint, methods=["POST"]) for p in paths])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: true(server.started), timeout=10)
        yield plaid
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 15)
