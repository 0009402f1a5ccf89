"""The HTTP API end to end against the Plaid emulator, real PostgreSQL and real Kafka:
link, list, break, repair (update mode), remove; duplicates refused before the exchange; who sees what."""

import asyncio

import pytest
from link_svc.domain import events as ev

from .harness import LinkService, exchange, read_events, wait_until

pytestmark = pytest.mark.integration


async def status_of(svc: LinkService, token: str, item_id: str) -> str:
    r = await svc.call("GET", f"/v1/items/{item_id}", token)
    return str(r.json()["status"])


async def test_link_list_break_repair_and_remove(svc: LinkService, kafka_bootstrap_servers: str) -> None:
    alice = svc.token("alice")
    success = await svc.link_via_emulator(alice)
    code, item = await exchange(svc, alice, success)
    assert code == 201, item
    item_id = item["item_id"]
    assert item["status"] == "good" and item["institution_id"] == "ins_109508"
    assert {a["mask"] for a in item["accounts"]} == {a["mask"] for a in success["metadata"]["accounts"]}

    listed = (await svc.call("GET", "/v1/items", alice)).json()["items"]
    assert [i["item_id"] for i in listed] == [item_id]

    # the bank wants the user to log in again: Plaid's ITEM ERROR webhook reaches us, signed
    svc.emu.set_item_error(item_id, "ITEM_LOGIN_REQUIRED")
    await wait_until(lambda: _is(svc, alice, item_id, "login_required"))
    detail = (await svc.call("GET", f"/v1/items/{item_id}", alice)).json()
    assert detail["needs_repair"] and detail["status_code"] == "ITEM_LOGIN_REQUIRED"

    # update mode: a link token for this Item, the user logs in, the front end reports success
    update = await svc.call(
        "POST", f"/v1/items/{item_id}/link-token", alice, json={"reason": "login_required"}
    )
    assert update.status_code == 201 and update.json()["mode"] == "update"
    await svc.complete_link(update.json()["link_token"])
    repaired = await svc.call("POST", f"/v1/items/{item_id}/update-completed", alice, json={})
    assert repaired.status_code == 200 and repaired.json()["status"] == "good"
    history = (await svc.call("GET", f"/v1/items/{item_id}", alice)).json()["status_history"]
    assert [(h["from_status"], h["to_status"]) for h in history][:2] == [
        ("good", "login_required"),
        ("login_required", "good"),
    ]

    removed = await svc.call("DELETE", f"/v1/items/{item_id}", alice)
    assert removed.status_code == 200 and removed.json()["status"] == "removed"
    assert (await svc.call("GET", "/v1/items", alice)).json()["items"] == []
    assert (await svc.call("POST", f"/v1/items/{item_id}/sync", alice)).status_code == 410

    events = await read_events(kafka_bootstrap_servers, svc.topic(ev.TOPIC_ITEMS), at_least=5)
    types = [e.type for e in events if e.subject == item_id]
    assert types[0] == ev.ITEM_LINKED and types[-1] in (ev.ITEM_REMOVED, ev.ITEM_STATUS_CHANGED)
    assert ev.ITEM_REMOVED in types and types.count(ev.ITEM_STATUS_CHANGED) >= 3
    linked = ev.ItemLinked.model_validate(events[0].data)
    assert linked.user_id == "alice" and len(linked.accounts) == len(item["accounts"])
    for e in events:
        ev.PUBLISHED[e.type].model_validate(e.data)

    calls = await svc.pool.fetch("SELECT endpoint, request_id, http_status FROM plaid_calls ORDER BY id")
    endpoints = [c["endpoint"] for c in calls]
    for wanted in (
        "/link/token/create",
        "/item/public_token/exchange",
        "/accounts/get",
        "/item/remove",
        "/webhook_verification_key/get",
    ):
        assert wanted in endpoints
    assert all(c["request_id"] and c["http_status"] == 200 for c in calls)


async def _is(svc: LinkService, token: str, item_id: str, status: str) -> bool:
    return await status_of(svc, token, item_id) == status


async def test_a_duplicate_is_refused_before_the_exchange_naming_the_existing_item(svc: LinkService) -> None:
    bob = svc.token("bob")
    success = await svc.link_via_emulator(bob)
    code, first = await exchange(svc, bob, success)
    assert code == 201
    again = await svc.link_via_emulator(bob)  # the same bank login again: Link reports the same accounts
    again["metadata"]["accounts"] = success["metadata"]["accounts"]
    code, body = await exchange(svc, bob, again)
    assert code == 409 and body["error"]["code"] == "duplicate_item"
    assert body["error"]["existing_item_id"] == first["item_id"]
    exchanges = await svc.pool.fetchval(
        "SELECT count(*) FROM plaid_calls WHERE endpoint = '/item/public_token/exchange'"
    )
    assert exchanges == 1
    # another institution links fine; another user at the same institution too
    code, _ = await exchange(svc, bob, await svc.link_via_emulator(bob, "ins_109509"))
    assert code == 201
    carol = svc.token("carol")
    code, _ = await exchange(svc, carol, await svc.link_via_emulator(carol))
    assert code == 201


async def test_the_same_public_token_sent_twice_at_once_gets_the_same_item_twice(svc: LinkService) -> None:
    """A double submit: the second request exchanged too and got 400 INVALID_PUBLIC_TOKEN (the token is
    single-use) while the first got 201; it waits for the first now and answers with its Item."""
    uma = svc.token("uma")
    success = await svc.link_via_emulator(uma)
    answers = await asyncio.gather(exchange(svc, uma, success), exchange(svc, uma, success))
    assert [status for status, _ in answers] == [201, 201], answers
    assert answers[0][1]["item_id"] == answers[1][1]["item_id"]
    exchanges = "SELECT count(*) FROM plaid_calls WHERE endpoint = '/item/public_token/exchange'"
    assert await svc.pool.fetchval(exchanges) == 1
    assert await svc.pool.fetchval("SELECT count(*) FROM items") == 1


async def test_exchanging_a_token_of_an_item_already_linked_is_a_409_and_keeps_the_item(
    svc: LinkService,
) -> None:
    dave = svc.token("dave")
    code, item = await exchange(svc, dave, await svc.link_via_emulator(dave))
    assert code == 201
    update = await svc.call(
        "POST", f"/v1/items/{item['item_id']}/link-token", dave, json={"reason": "login_required"}
    )
    session = await svc.complete_link(update.json()["link_token"])  # update mode: the same Item
    session["metadata"]["accounts"] = []  # nothing for the duplicate check to match: Plaid must tell
    code, body = await exchange(svc, dave, session)
    assert code == 409 and body["error"]["code"] == "item_already_linked", body
    assert body["error"]["existing_item_id"] == item["item_id"]
    # the Item is untouched, here and at Plaid (it was not removed as an unstored one would be)
    assert await status_of(svc, dave, item["item_id"]) == "good"
    removals = await svc.pool.fetchval("SELECT count(*) FROM plaid_calls WHERE endpoint = '/item/remove'")
    assert removals == 0
    assert (await svc.call("POST", f"/v1/items/{item['item_id']}/sync", dave)).status_code == 202
    # someone else presenting such a token learns nothing about the Item
    again = await svc.complete_link(update.json()["link_token"])
    erin = svc.token("erin")
    code, body = await exchange(svc, erin, again)
    assert code == 409 and body["error"]["code"] == "item_already_linked"
    assert body["error"].get("existing_item_id") is None
    assert await status_of(svc, dave, item["item_id"]) == "good"


async def test_users_see_and_change_only_their_items_and_scopes_are_enforced(svc: LinkService) -> None:
    dave, erin = svc.token("dave"), svc.token("erin")
    _, item = await exchange(svc, dave, await svc.link_via_emulator(dave))
    path = f"/v1/items/{item['item_id']}"
    assert (await svc.call("GET", path, erin)).status_code == 404
    assert (await svc.call("DELETE", path, erin)).status_code == 404
    assert (await svc.call("GET", "/v1/items", erin)).json()["items"] == []
    assert (await svc.call("GET", path)).status_code == 401
    assert (await svc.call("GET", path, "not-a-jwt")).status_code == 401
    read_only = svc.token("dave", ("items:read",))
    assert (await svc.call("GET", path, read_only)).status_code == 200
    assert (await svc.call("DELETE", path, read_only)).status_code == 403
    assert (await svc.call("POST", "/v1/link-tokens", read_only, json={})).status_code == 403
    metrics = (await svc.call("GET", "/metrics")).text
    assert 'link_svc_auth_failures_total{outcome="forbidden"}' in metrics


async def test_the_sync_worker_obtains_a_token_only_with_vault_read(svc: LinkService) -> None:
    frank = svc.token("frank")
    _, item = await exchange(svc, frank, await svc.link_via_emulator(frank))
    path = f"/internal/v1/items/{item['item_id']}/access-token"
    worker = svc.token("sync-worker", ("vault:read",), kind="service")
    released = await svc.call("POST", path, worker)
    assert released.status_code == 200 and released.headers["cache-control"] == "no-store"
    token = released.json()["access_token"]
    answer = svc.emu.plaid("/accounts/get", {"access_token": token})  # the token really works at Plaid
    assert answer.status_code == 200 and answer.json()["item"]["item_id"] == item["item_id"]
    assert (await svc.call("POST", path, frank)).status_code == 403  # a user never gets it
    assert (
        await svc.call("POST", path, svc.token("ops", ("items:read",), kind="service"))
    ).status_code == 403
    audit = await svc.pool.fetch("SELECT item_id, released_to FROM vault_releases")
    assert [(a["item_id"], a["released_to"]) for a in audit] == [(item["item_id"], "sync-worker")]
    await svc.call("DELETE", f"/v1/items/{item['item_id']}", frank)
    assert (await svc.call("POST", path, worker)).status_code == 410


async def test_link_session_events_and_on_demand_sync_are_recorded(
    svc: LinkService, kafka_bootstrap_servers: str
) -> None:
    gail = svc.token("gail")
    exit_event = {
        "outcome": "exit",
        "link_session_id": "sess-1",
        "request_id": "req123",
        "institution": {"institution_id": "ins_109508", "name": "First Platypus Bank"},
        "error": {
            "error_type": "ITEM_ERROR",
            "error_code": "INVALID_CREDENTIALS",
            "error_message": "the password pass_bad is wrong",
        },
        "status": "requires_credentials",
    }
    recorded = await svc.call("POST", "/v1/link-sessions/events", gail, json=exit_event)
    assert recorded.status_code == 201
    row = await svc.pool.fetchrow("SELECT * FROM link_sessions WHERE id = $1", recorded.json()["id"])
    assert (row["user_id"], row["error_code"], row["link_session_id"]) == (
        "gail",
        "INVALID_CREDENTIALS",
        "sess-1",
    )
    assert "pass_bad" not in str(dict(row))

    _, item = await exchange(svc, gail, await svc.link_via_emulator(gail))
    requested = await svc.call("POST", f"/v1/items/{item['item_id']}/sync", gail)
    assert requested.status_code == 202
    events = await read_events(kafka_bootstrap_servers, svc.topic(ev.TOPIC_SYNC_REQUESTS), at_least=1)
    assert [(e.type, e.subject, e.data["requested_by"]) for e in events] == [
        (ev.SYNC_REQUESTED, item["item_id"], "gail")
    ]


async def test_nul_and_unpaired_surrogates_in_a_body_are_a_422_not_a_500(svc: LinkService) -> None:
    alice = svc.token("alice")
    raw = '{"outcome": "exit", "link_session_id": "s-1", "status": "requires_credentials", "item_id": "%s"}'
    for bad in ("it\\u0000em", "it\\ud800em"):
        answer = await svc.call(
            "POST",
            "/v1/link-sessions/events",
            alice,
            content=(raw % bad).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 422, answer.text
        assert "item_id" in str(answer.json()["error"]["details"])
    fine = await svc.call(
        "POST", "/v1/link-sessions/events", alice, json={"outcome": "exit", "link_session_id": "s-\u00e9"}
    )
    assert fine.status_code < 300, fine.text
