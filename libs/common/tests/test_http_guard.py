"""The guard every service's HTTP app has, proven against a real uvicorn server on 127.0.0.1: oversized
bodies and tokens are refused before any route reads or parses them, NUL never reaches a route, and
answers carry nosniff (and no-store when the request carried credentials)."""

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from bankstream_common.http import create_http_app
from bankstream_common.metrics import create_registry
from bankstream_common.testing.service_process import free_port
from fastapi import FastAPI, Request

LIMIT = 64 * 1024


def build(seen: list[str]) -> FastAPI:
    app = create_http_app(
        service="guarded",
        settings=None,
        registry=create_registry(runtime_collectors=False),
        readiness={},
        max_body_bytes=LIMIT,
        body_limits={"/hooks": 512},
    )

    @app.post("/v1/things")
    async def things(request: Request) -> dict[str, int]:
        seen.append("things")
        return {"bytes": len(await request.body())}

    @app.post("/hooks")
    async def hooks(request: Request) -> dict[str, int]:
        seen.append("hooks")
        return {"bytes": len(await request.body())}

    @app.get("/v1/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        seen.append(item_id)
        return {"item_id": item_id}

    return app


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(build(seen), host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(srv.serve())
    while not srv.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}", seen
    srv.should_exit = True
    await task


async def test_a_declared_oversized_body_is_refused_at_once_and_never_read(
    server: tuple[str, list[str]],
) -> None:
    url, seen = server
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        started = time.perf_counter()
        answer = await c.post("/v1/things", content=b"x" * (20 * 1024 * 1024))
        refused_in = time.perf_counter() - started
        assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_large"
        assert seen == []
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.post("/v1/things", content=b"x" * 1000)).json() == {"bytes": 1000}
    print(f"20 MiB body refused in {refused_in * 1000:.0f} ms")


async def test_a_streamed_body_is_cut_off_at_the_limit(server: tuple[str, list[str]]) -> None:
    url, seen = server

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"y" * 4096

    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        answer = await c.post("/v1/things", content=chunks())  # chunked: no Content-Length
    assert answer.status_code == 413
    assert seen == ["things"]  # the route started reading, and got the refusal instead of the bytes


async def test_a_route_can_have_its_own_smaller_limit(server: tuple[str, list[str]]) -> None:
    url, _ = server
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        assert (await c.post("/hooks", content=b"z" * 513)).status_code == 413
        assert (await c.post("/hooks", content=b"z" * 512)).status_code == 200
        assert (await c.post("/v1/things", content=b"z" * 513)).status_code == 200


async def test_an_oversized_token_is_refused_before_anything_parses_it(server: tuple[str, list[str]]) -> None:
    url, seen = server
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        answer = await c.get("/v1/items/a", headers={"Authorization": "Bearer " + "a" * 9000})
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert seen == []


async def test_nul_in_the_path_or_query_is_a_422(server: tuple[str, list[str]]) -> None:
    url, seen = server
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        assert (await c.get("/v1/items/a%00b")).status_code == 422
        assert (await c.get("/v1/items/a", params={"q": "x\x00y"})).status_code == 422
        assert (await c.get("/v1/items/caf%C3%A9")).status_code == 200
    assert seen == ["café"]


async def test_headers_nosniff_always_no_store_with_credentials_and_no_slash_redirect(
    server: tuple[str, list[str]],
) -> None:
    url, _ = server
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        anonymous = await c.get("/v1/items/a")
        with_token = await c.get("/v1/items/a", headers={"Authorization": "Bearer t"})
        slash = await c.get("/v1/items/a/", headers={"Host": "evil.example"})
    assert anonymous.headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in anonymous.headers
    assert with_token.headers["cache-control"] == "no-store"
    assert slash.status_code == 404 and "location" not in slash.headers
