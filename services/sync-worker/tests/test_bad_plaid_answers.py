"""Answers Plaid should never give, and a few it may: the worker against a scriptable Plaid over HTTP (its
real plaid-python client), the real Kafka and PostgreSQL. A page that breaks the contract fails its run
as INVALID_RESPONSE and publishes nothing of it."""

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bankstream_common.envelope import Envelope

from .fake_plaid import Answer, FakePlaid, fake_plaid, page, plaid_error
from .harness import EmulatorTokens, Worker, running_worker, settings_for
from .stream import decode
from .test_transaction_events import TXN

pytestmark = pytest.mark.integration


def token(item_id: str) -> str:
    return f"access-sandbox-{item_id}"


@contextlib.asynccontextmanager
async def worker_against(
    answer: Answer,
    database_url: str,
    kafka: str,
    uid: str,
    tokens: EmulatorTokens | None = None,
    **extra: Any,
) -> AsyncIterator[tuple[Worker, FakePlaid]]:
    """A worker whose Plaid is `answer` (and whose link-svc is `tokens`); `extra`: its settings."""
    async with fake_plaid(answer) as plaid:
        settings = settings_for(
            database_url=database_url,
            kafka=kafka,
            emulator_url=plaid.url,
            client_id="cid",
            secret="sec",
            uid=uid,
            **extra,
        )
        async with running_worker(settings, tokens=tokens) as worker:
            yield worker, plaid


async def nothing_published(worker: Worker, reader, name: str) -> bool:
    return await reader(worker.topic(name), until=lambda rs: False, timeout=1.0) == []


async def sync_runs(worker: Worker, reader, n: int) -> list[Envelope]:
    return decode(await reader(worker.topic("bankstream.sync-runs"), until=lambda rs: len(rs) >= n))


BROKEN_NUMBERS = {
    "item-nan": b'"amount": NaN',
    "item-big": b'"amount": 1e400',
    "item-inf": b'"current": Infinity',
}


async def test_a_page_with_a_number_that_is_not_finite_fails_the_run_and_publishes_nothing(
    database_url: str, kafka_bootstrap_servers: str, uid: str, reader
) -> None:
    account = {"account_id": "acc-1", "balances": {"current": 7.25, "available": None}}
    good = json.dumps(page([{**TXN, "amount": 2.5}], "c1", accounts=[account])).encode()
    bodies = {}
    for item_id, broken in BROKEN_NUMBERS.items():
        field = broken.split(b":")[0]
        bodies[token(item_id)] = good.replace(field + (b": 2.5" if b"amount" in field else b": 7.25"), broken)
        assert broken in bodies[token(item_id)]

    def answer(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        return 200, bodies[body["access_token"]]

    async with worker_against(answer, database_url, kafka_bootstrap_servers, uid) as (worker, _):
        for item_id in BROKEN_NUMBERS:
            await worker.link(item_id, token(item_id))
        for item_id in BROKEN_NUMBERS:
            (run,) = await worker.wait_runs(item_id, 1)
            assert (run["outcome"], run["error_code"]) == ("failed", "INVALID_RESPONSE"), item_id
            assert (await worker.item(item_id))["cursor"] == "", "the cursor moved past a refused page"
        failed = await sync_runs(worker, reader, len(BROKEN_NUMBERS))
        assert {(e.subject, e.type, e.data["error_code"]) for e in failed} == {
            (item_id, "bankstream.sync.failed.v1", "INVALID_RESPONSE") for item_id in BROKEN_NUMBERS
        }
        assert await nothing_published(worker, reader, "bankstream.transactions")
        assert await nothing_published(worker, reader, "bankstream.accounts")


async def test_a_string_postgresql_cannot_store_fails_the_run_once_instead_of_crashing_it_again_and_again(
    database_url: str, kafka_bootstrap_servers: str, uid: str, reader
) -> None:
    """NUL in an id of the loop's second page (of three): the first page is committed, the second refused
    (it used to crash the run when its ids were stored, and the Item was claimed again at once)."""
    pages = {
        "": page([{**TXN, "transaction_id": "t-1"}], "c1", more=True),
        "c1": page([{**TXN, "transaction_id": "t\x002"}], "c2", more=True),
        "c2": page([{**TXN, "transaction_id": "t-3"}], "c3"),
    }

    def answer(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        return 200, pages[body.get("cursor", "")]

    async with worker_against(answer, database_url, kafka_bootstrap_servers, uid) as (worker, plaid):
        await worker.link("item-1", token("item-1"))
        (run,) = await worker.wait_runs("item-1", 1, timeout=15)
        assert (run["outcome"], run["error_code"]) == ("failed", "INVALID_RESPONSE")
        item = await worker.item("item-1")
        assert (item["cursor"], item["last_sequence"], item["wanted_at"]) == ("c1", 1, None)
        assert plaid.count("/transactions/sync") <= 3  # the third page may be asked for ahead
        (changed,) = decode(
            await reader(worker.topic("bankstream.transactions"), until=lambda rs: len(rs) >= 1, timeout=5)
        )
        assert changed.data["transaction_id"] == "t-1"


async def test_has_more_with_a_cursor_that_does_not_move_fails_the_run_instead_of_paging_forever(
    database_url: str, kafka_bootstrap_servers: str, uid: str
) -> None:
    def answer(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("cursor", "") == "":
            return 200, page([TXN], "c1", more=True)
        return 200, page([], "c1", more=True)  # "more to come", and the same cursor again

    async with worker_against(answer, database_url, kafka_bootstrap_servers, uid) as (worker, plaid):
        await worker.link("item-1", token("item-1"))
        (run,) = await worker.wait_runs("item-1", 1, timeout=10)
        assert (run["outcome"], run["error_code"], run["error_type"]) == (
            "failed",
            "INVALID_RESPONSE",
            "PAGINATION",
        )
        assert plaid.count("/transactions/sync") <= 3


async def test_a_refused_refresh_is_counted_and_the_sync_goes_on(
    database_url: str, kafka_bootstrap_servers: str, uid: str
) -> None:
    """/transactions/refresh is optional (an add-on product): a 400 INVALID_PRODUCT must not fail the
    on-demand sync that asked for it."""

    def answer(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if path == "/transactions/refresh":
            return plaid_error(400, "INVALID_INPUT", "INVALID_PRODUCT")
        cursor = body.get("cursor", "")
        return 200, page([{**TXN, "transaction_id": f"t-{cursor}"}], cursor + "x")

    async with worker_against(answer, database_url, kafka_bootstrap_servers, uid) as (worker, plaid):
        await worker.link("item-1", token("item-1"))
        await worker.wait_runs("item-1", 1)
        await worker.request_sync("item-1", refresh=True)
        runs = await worker.wait_runs("item-1", 2)
        assert [(r["outcome"], r["error_code"]) for r in runs] == [("completed", None)] * 2
        assert [p for p, _ in plaid.calls] == [
            "/transactions/sync",
            "/transactions/refresh",
            "/transactions/sync",
        ]
        refused = worker.container.metrics.registry.get_sample_value(
            "sync_worker_plaid_requests_total", {"endpoint": "refresh", "outcome": "INVALID_PRODUCT"}
        )
        assert refused == 1
