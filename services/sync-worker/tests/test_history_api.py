"""The sync history API is authenticated like link-svc (issue 18 item 5): bearer JWTs, `items:read`, a user
sees only their own Items' runs, a service names the user or holds `users:all`. Against the worker serving
on loopback, its consumer on the real Kafka learning each Item's owner from ItemLinked, real PostgreSQL and
the Plaid emulator."""

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import uvicorn
from bankstream_common.testing.issuer import TEST_ISSUER
from bankstream_common.testing.waiting import true, wait_until
from plaid_emulator.testing import RunningEmulator, running_emulator

from .harness import Worker, running_worker, settings_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator(not_ready_delay=0, historical_delay=0) as emu:
        yield emu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def served(
    database_url: str, kafka_bootstrap_servers: str, emulator: RunningEmulator, uid: str
) -> AsyncIterator[tuple[Worker, httpx.AsyncClient]]:
    settings = settings_for(
        database_url=database_url,
        kafka=kafka_bootstrap_servers,
        emulator_url=emulator.url,
        client_id=emulator.client_id,
        secret=emulator.secret,
        uid=uid,
    )
    async with running_worker(settings) as worker:
        port = free_port()
        config = uvicorn.Config(
            worker.container.app, host="127.0.0.1", port=port, log_config=None, lifespan="off"
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        try:
            await wait_until(lambda: true(server.started), timeout=30)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                yield worker, http
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 15)


async def link(worker: Worker, emulator: RunningEmulator, user_id: str) -> str:
    item = emulator.create_item(transactions=20, ready=True)
    worker.tokens.tokens[item["item_id"]] = item["access_token"]
    await worker.publish(
        "bankstream.items",
        "bankstream.item.linked.v1",
        {"item_id": item["item_id"], "user_id": user_id, "institution_id": "ins_109508", "accounts": []},
    )
    await worker.wait_runs(item["item_id"], 1)
    return item["item_id"]


async def test_the_history_needs_a_token_and_shows_a_user_only_their_items(
    served: tuple[Worker, httpx.AsyncClient], emulator: RunningEmulator
) -> None:
    worker, http = served
    anns, bens = await link(worker, emulator, "ann"), await link(worker, emulator, "ben")
    ann = TEST_ISSUER.bearer("ann", ["items:read"])
    runs, state = f"/v1/items/{anns}/sync-runs", f"/v1/items/{anns}/sync"

    for path in (runs, state, "/v1/sync-runs/failures"):
        refused = await http.get(path)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    forged = {"Authorization": "Bearer " + TEST_ISSUER.token("ann", ["items:read"]) + "x"}
    assert (await http.get(runs, headers=forged)).status_code == 401

    mine = await http.get(runs, headers=ann)
    assert mine.status_code == 200 and [r["outcome"] for r in mine.json()["runs"]] == ["completed"]
    # an instant no UTC datetime can hold overflowed in the driver: a 500
    for before in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        assert (await http.get(runs, headers=ann, params={"before": before})).status_code == 422
    assert (await http.get(runs, headers=ann, params={"before": "2999-01-01T00:00:00"})).json()["runs"]
    assert mine.headers["cache-control"] == "no-store"
    assert (await http.get(state, headers=ann)).json()["item_id"] == anns
    # ben's Item does not exist for ann; neither does it without items:read
    assert (await http.get(f"/v1/items/{bens}/sync-runs", headers=ann)).status_code == 404
    assert (await http.get(f"/v1/items/{bens}/sync", headers=ann)).status_code == 404
    assert (await http.get(runs, headers=TEST_ISSUER.bearer("ann", ["link:write"]))).status_code == 403
    assert (await http.get("/v1/sync-runs/failures", headers=ann)).status_code == 403

    # a service token names the user it acts for, or holds users:all
    ops = TEST_ISSUER.bearer("ops", ["items:read"], kind="service")
    assert (await http.get(runs, headers=ops)).status_code == 404
    assert (await http.get(runs, headers=ops, params={"user_id": "ben"})).status_code == 404
    assert (await http.get(runs, headers=ops, params={"user_id": "ann"})).status_code == 200
    every = TEST_ISSUER.bearer("ops", ["items:read", "users:all"], kind="service")
    assert (await http.get(f"/v1/items/{bens}/sync-runs", headers=every)).status_code == 200
    assert (await http.get("/v1/sync-runs/failures", headers=every)).json() == {"runs": []}
    # the probes stay open
    assert (await http.get("/healthz")).status_code == 200
