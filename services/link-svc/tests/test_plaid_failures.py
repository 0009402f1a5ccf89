"""Plaid failing: translated at the boundary, answered with the right status, audited; transient failures
during the exchange retried within the request's budget, then finished in the background, never losing
the exchanged Item (issue 18 item 4); an exchange refused for good leaves no live Item behind at Plaid.
Faults come from the emulator (docs/plaid-emulator.md), never from a mock."""

from collections.abc import AsyncIterator

import pytest
from link_svc.domain import events as ev
from plaid_emulator.testing import RunningEmulator

from .harness import LinkService, exchange, free_port, read_events, running_link_service, wait_until

pytestmark = pytest.mark.integration


async def test_a_plaid_outage_is_a_503_with_plaids_code_audited_and_counted(svc: LinkService) -> None:
    svc.emu.set_fault(error_code="INTERNAL_SERVER_ERROR", endpoint="/link/token/create", count=1)
    try:
        answer = await svc.call("POST", "/v1/link-tokens", svc.token("kim"), json={})
    finally:
        svc.emu.clear_faults()
    assert answer.status_code == 503 and answer.headers["retry-after"]
    error = answer.json()["error"]
    assert (error["code"], error["plaid_error_code"]) == ("plaid_unavailable", "INTERNAL_SERVER_ERROR")
    row = await svc.pool.fetchrow("SELECT * FROM plaid_calls WHERE endpoint = '/link/token/create'")
    assert (row["http_status"], row["error_code"]) == (500, "INTERNAL_SERVER_ERROR")
    assert row["request_id"] == error["plaid_request_id"] and row["latency_ms"] > 0
    metrics = (await svc.call("GET", "/metrics")).text
    assert (
        'link_svc_plaid_calls_total{endpoint="/link/token/create",error_code="INTERNAL_SERVER_ERROR",'
        'outcome="error"} 1.0' in metrics
    )


async def test_an_invalid_public_token_is_a_400_naming_plaids_code(svc: LinkService) -> None:
    lee = svc.token("lee")
    success = await svc.link_via_emulator(lee)
    success["public_token"] = "public-sandbox-00000000-0000-4000-8000-000000000000"
    code, body = await exchange(svc, lee, success)
    assert code == 400 and body["error"]["plaid_error_code"] == "INVALID_PUBLIC_TOKEN"
    assert await svc.pool.fetchval("SELECT count(*) FROM items") == 0


async def test_an_exchange_that_cannot_be_completed_is_undone_at_plaid(svc: LinkService) -> None:
    max_ = svc.token("max")
    success = await svc.link_via_emulator(max_)
    svc.emu.set_fault(error_code="ITEM_LOGIN_REQUIRED", endpoint="/accounts/get", count=1)
    try:
        code, body = await exchange(svc, max_, success)
    finally:
        svc.emu.clear_faults()
    assert code == 400 and body["error"]["plaid_error_code"] == "ITEM_LOGIN_REQUIRED", body
    assert await svc.pool.fetchval("SELECT count(*) FROM items") == 0
    assert await svc.pool.fetchval("SELECT count(*) FROM access_tokens") == 0
    calls = [
        r["endpoint"]
        for r in await svc.pool.fetch("SELECT endpoint FROM plaid_calls ORDER BY id")
        if r["endpoint"] != "/webhook_verification_key/get"  # webhooks of the new Item come in meanwhile
    ]
    assert calls[-3:] == ["/item/public_token/exchange", "/accounts/get", "/item/remove"]


async def endpoint_calls(svc: LinkService, endpoint: str) -> int:
    return int(await svc.pool.fetchval("SELECT count(*) FROM plaid_calls WHERE endpoint = $1", endpoint))


@pytest.mark.parametrize(
    ("endpoint", "code"),
    [
        ("/accounts/get", "INSTITUTION_NOT_RESPONDING"),
        ("/accounts/get", "INTERNAL_SERVER_ERROR"),
        ("/item/public_token/exchange", "INSTITUTION_DOWN"),
    ],
)
async def test_a_transient_plaid_error_during_the_exchange_is_retried_within_the_request(
    svc: LinkService, endpoint: str, code: str
) -> None:
    nia = svc.token("nia")
    success = await svc.link_via_emulator(nia)
    svc.emu.set_fault(error_code=code, endpoint=endpoint, count=2)
    try:
        status, body = await exchange(svc, nia, success)
    finally:
        svc.emu.clear_faults()
    assert status == 201, body
    assert await endpoint_calls(svc, endpoint) == 3
    assert await endpoint_calls(svc, "/item/remove") == 0
    assert [i["item_id"] for i in (await svc.call("GET", "/v1/items", nia)).json()["items"]] == [
        body["item_id"]
    ]


@pytest.fixture
async def impatient(
    database_url: str, kafka_bootstrap_servers: str, emu: RunningEmulator
) -> AsyncIterator[LinkService]:
    """link-svc with a one-second budget for the exchange and a quick background."""
    async with running_link_service(
        database_url,
        kafka_bootstrap_servers,
        emu,
        link_exchange_budget_seconds=1.0,
        item_setup_interval_seconds=0.2,
        item_setup_max_delay_seconds=0.5,
    ) as service:
        yield service


async def test_an_exchanged_item_is_kept_through_an_outage_and_finished_in_the_background(
    impatient: LinkService, kafka_bootstrap_servers: str
) -> None:
    svc = impatient
    oli = svc.token("oli")
    success = await svc.link_via_emulator(oli)
    svc.emu.set_fault(error_code="INSTITUTION_NOT_RESPONDING", endpoint="/accounts/get", count=None)
    try:
        status, body = await exchange(svc, oli, success)
        assert status == 503, body
        error = body["error"]
        assert (
            error["code"] == "item_setup_pending"
            and error["plaid_error_code"] == "INSTITUTION_NOT_RESPONDING"
        )
        assert int(svc.responses[-1].headers["retry-after"]) > 0
        item_id = error["item_id"]
        # kept: its sealed token is stored, nothing was removed at Plaid, and the same request says so again
        assert await svc.pool.fetchval("SELECT count(*) FROM access_tokens WHERE item_id = $1", item_id) == 1
        status, again = await exchange(svc, oli, success)
        assert status == 503 and again["error"]["item_id"] == item_id
        assert await endpoint_calls(svc, "/item/remove") == 0
        assert await endpoint_calls(svc, "/item/public_token/exchange") == 1
        assert (await svc.call("GET", f"/v1/items/{item_id}", oli)).status_code == 404  # not set up yet
    finally:
        svc.emu.clear_faults()

    # the bank answers again: the background finishes the set-up and publishes ItemLinked
    async def linked() -> bool:
        return (await svc.call("GET", f"/v1/items/{item_id}", oli)).status_code == 200

    await wait_until(linked, timeout=30)
    events = await read_events(kafka_bootstrap_servers, svc.topic(ev.TOPIC_ITEMS), at_least=1)
    assert [(e.type, e.subject) for e in events] == [(ev.ITEM_LINKED, item_id)]
    assert len(ev.ItemLinked.model_validate(events[0].data).accounts) > 0
    # the front end's retry of the same request gets the Item, without a second exchange
    status, done = await exchange(svc, oli, success)
    assert status == 201 and done["item_id"] == item_id
    assert await endpoint_calls(svc, "/item/public_token/exchange") == 1
    assert await endpoint_calls(svc, "/item/remove") == 0
    # someone else presenting that public token learns nothing
    status, other = await exchange(svc, svc.token("pat"), success)
    assert status == 409 and other["error"].get("existing_item_id") is None
    metrics = (await svc.call("GET", "/metrics")).text
    assert 'link_svc_item_setups_total{outcome="deferred"}' in metrics
    assert "link_svc_item_setups_pending 0.0" in metrics


async def test_the_audit_of_plaid_calls_is_kept_only_its_retention(
    database_url: str, kafka_bootstrap_servers: str, emu: RunningEmulator
) -> None:
    async with running_link_service(
        database_url,
        kafka_bootstrap_servers,
        emu,
        plaid_calls_retention_days=30,
        audit_prune_interval_seconds=0.2,
    ) as svc:
        await svc.call("POST", "/v1/link-tokens", svc.token("quinn"), json={})  # a call made now
        await svc.pool.execute(
            """INSERT INTO plaid_calls (endpoint, latency_ms, called_at)
               SELECT '/webhook_verification_key/get', 1.0, now() - make_interval(days => 31 + i % 300)
               FROM generate_series(1, 12000) AS i"""
        )

        async def pruned() -> bool:
            return await svc.pool.fetchval("SELECT count(*) FROM plaid_calls") == 1

        await wait_until(pruned, timeout=30)
        kept = await svc.pool.fetchval("SELECT endpoint FROM plaid_calls")
        assert kept == "/link/token/create"


@pytest.mark.parametrize(
    "fault",
    [
        {"latency_ms": 1100},  # Plaid exchanges, its answer comes after link-svc gave up waiting
        {"error_code": "INTERNAL_SERVER_ERROR"},  # a 5xx: Plaid may have exchanged before failing
    ],
)
async def test_an_exchange_whose_answer_is_lost_is_not_retried_and_says_so(
    database_url: str, kafka_bootstrap_servers: str, emu: RunningEmulator, fault: dict[str, object]
) -> None:
    """A public token is single-use: a retry after Plaid did exchange was refused INVALID_PUBLIC_TOKEN, a
    400 telling the client its token was invalid, while the Item lived on at Plaid, unknown here."""
    async with running_link_service(
        database_url, kafka_bootstrap_servers, emu, plaid_timeout_seconds=1.0
    ) as svc:
        rae = svc.token("rae")
        success = await svc.link_via_emulator(rae)
        emu.set_fault(endpoint="/item/public_token/exchange", count=1, **fault)
        try:
            status, body = await exchange(svc, rae, success)
        finally:
            emu.clear_faults()
        assert status == 502 and body["error"]["code"] == "exchange_outcome_unknown", body
        assert "link again" in body["error"]["message"]
        assert await endpoint_calls(svc, "/item/public_token/exchange") == 1
        assert await svc.pool.fetchval("SELECT count(*) FROM item_setups") == 0
        metrics = (await svc.call("GET", "/metrics")).text
        assert 'link_svc_item_setups_total{outcome="exchange_unknown"} 1.0' in metrics


async def test_an_exchange_that_never_reached_plaid_is_retried_within_the_budget(
    database_url: str, kafka_bootstrap_servers: str, emu: RunningEmulator
) -> None:
    async with running_link_service(database_url, kafka_bootstrap_servers, emu) as reachable:
        sam = reachable.token("sam")
        success = await reachable.link_via_emulator(sam)
    nothing_listens = f"http://127.0.0.1:{free_port()}"
    async with running_link_service(
        database_url,
        kafka_bootstrap_servers,
        emu,
        plaid_base_url=nothing_listens,
        link_exchange_budget_seconds=1.0,
    ) as svc:
        status, body = await exchange(svc, svc.token("sam"), success)
        assert status == 503 and body["error"]["code"] == "plaid_unavailable", body
        assert await endpoint_calls(svc, "/item/public_token/exchange") > 1  # connection refused: retried
