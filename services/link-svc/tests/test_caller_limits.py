"""What a caller may choose and whom it may act for (issue 14, items 4, 6, 7, 8), against link-svc serving
on loopback with the Plaid emulator, real PostgreSQL and real Kafka."""

from typing import Any

import pytest

from .harness import LinkService, exchange

pytestmark = pytest.mark.integration


async def plaid_calls(svc: LinkService, endpoint: str) -> int:
    return int(await svc.pool.fetchval("SELECT count(*) FROM plaid_calls WHERE endpoint = $1", endpoint))


async def test_a_service_token_acts_only_for_the_user_it_names_unless_it_holds_users_all(
    svc: LinkService,
) -> None:
    dave, erin = svc.token("dave"), svc.token("erin")
    _, daves = await exchange(svc, dave, await svc.link_via_emulator(dave))
    _, erins = await exchange(svc, erin, await svc.link_via_emulator(erin))
    reader = svc.token("reports", ("items:read",), kind="service")
    writer = svc.token("ops", ("items:write",), kind="service")
    path = f"/v1/items/{daves['item_id']}"

    # naming nobody is not "every user"
    listed = await svc.call("GET", "/v1/items", reader)
    assert listed.status_code == 403 and "users:all" in listed.json()["error"]["message"]
    assert (await svc.call("GET", path, reader)).status_code == 404
    assert (await svc.call("DELETE", path, writer)).status_code == 404
    assert (await svc.call("POST", f"{path}/sync", writer)).status_code == 404
    # naming a user: that user's Items, and no one else's
    named = await svc.call("GET", "/v1/items", reader, params={"user_id": "dave"})
    assert [i["item_id"] for i in named.json()["items"]] == [daves["item_id"]]
    assert (await svc.call("GET", path, reader, params={"user_id": "dave"})).status_code == 200
    assert (await svc.call("GET", path, reader, params={"user_id": "erin"})).status_code == 404
    assert (await svc.call("DELETE", path, writer, params={"user_id": "erin"})).status_code == 404
    assert await plaid_calls(svc, "/item/remove") == 0
    # a user token cannot widen itself by naming someone else
    assert (await svc.call("GET", "/v1/items", erin, params={"user_id": "dave"})).status_code == 403

    # users:all (or admin) is what says "every user"
    every = svc.token("reports", ("items:read", "users:all"), kind="service")
    everyone = await svc.call("GET", "/v1/items", every)
    assert {i["item_id"] for i in everyone.json()["items"]} == {daves["item_id"], erins["item_id"]}
    assert (await svc.call("GET", path, every)).status_code == 200
    assert (await svc.call("DELETE", path, every)).status_code == 403  # whom, never what
    # a user token cannot claim users:all
    claimed = svc.token("erin", ("items:read", "users:all"))
    assert [i["item_id"] for i in (await svc.call("GET", "/v1/items", claimed)).json()["items"]] == [
        erins["item_id"]
    ]
    removed = await svc.call("DELETE", path, writer, params={"user_id": "dave"})
    assert removed.status_code == 200 and removed.json()["status"] == "removed"


@pytest.mark.parametrize(
    "filters",
    [
        {"depository": ["checking"]},  # the shape that reached the SDK and gave a 500
        {"depository": {"account_subtypes": "checking"}},
        {"depository": {"account_subtypes": ["gold"]}},
        {"depository": {"account_subtypes": []}},
        {"crypto": {"account_subtypes": ["all"]}},
        {"credit": {"account_subtypes": ["checking"]}},
        {"depository": {"account_subtypes": ["checking"], "x": 1}},
    ],
)
async def test_a_malformed_account_filter_is_a_422_before_plaid_is_called(
    svc: LinkService, filters: dict[str, Any]
) -> None:
    alice = svc.token("alice")
    answer = await svc.call("POST", "/v1/link-tokens", alice, json={"account_filters": filters})
    assert answer.status_code == 422, answer.text
    assert "account_filters" in str(answer.json()["error"]["details"])
    assert await plaid_calls(svc, "/link/token/create") == 0


async def test_valid_account_filters_reach_plaid(svc: LinkService) -> None:
    alice = svc.token("alice")
    filters = {
        "depository": {"account_subtypes": ["checking", "savings"]},
        "credit": {"account_subtypes": ["credit card"]},
    }
    answer = await svc.call("POST", "/v1/link-tokens", alice, json={"account_filters": filters})
    assert answer.status_code == 201, answer.text


async def test_products_are_allow_listed_and_the_redirect_uri_is_never_the_callers(svc: LinkService) -> None:
    alice = svc.token("alice")
    billable = await svc.call("POST", "/v1/link-tokens", alice, json={"products": ["transactions", "assets"]})
    assert billable.status_code == 400 and billable.json()["error"]["code"] == "invalid_request"
    assert "assets" in billable.json()["error"]["message"]
    endless = await svc.call("POST", "/v1/link-tokens", alice, json={"products": ["transactions"] * 100})
    assert endless.status_code == 422
    for path, body in (
        ("/v1/link-tokens", {"redirect_uri": "https://evil.example/" + "a" * 1_000_000}),
        ("/v1/link-tokens", {"redirect_uri": "https://evil.example/cb"}),
    ):
        refused = await svc.call("POST", path, alice, json=body)
        assert refused.status_code in (413, 422), refused.text
    assert await plaid_calls(svc, "/link/token/create") == 0
    fine = await svc.call("POST", "/v1/link-tokens", alice, json={"products": ["transactions"]})
    assert fine.status_code == 201, fine.text


async def test_an_update_mode_token_refuses_a_caller_redirect_uri(svc: LinkService) -> None:
    alice = svc.token("alice")
    _, item = await exchange(svc, alice, await svc.link_via_emulator(alice))
    refused = await svc.call(
        "POST",
        f"/v1/items/{item['item_id']}/link-token",
        alice,
        json={"reason": "login_required", "redirect_uri": "https://evil.example/cb"},
    )
    assert refused.status_code == 422, refused.text


async def test_a_link_session_event_names_only_an_item_of_its_user(svc: LinkService) -> None:
    dave, erin = svc.token("dave"), svc.token("erin")
    _, daves = await exchange(svc, dave, await svc.link_via_emulator(dave))
    event = {"outcome": "success", "link_session_id": "s-1", "item_id": daves["item_id"]}
    assert (await svc.call("POST", "/v1/link-sessions/events", erin, json=event)).status_code == 404
    unknown = {**event, "item_id": "item-that-does-not-exist"}
    assert (await svc.call("POST", "/v1/link-sessions/events", dave, json=unknown)).status_code == 404
    assert await svc.pool.fetchval("SELECT count(*) FROM link_sessions") == 0
    assert (await svc.call("POST", "/v1/link-sessions/events", dave, json=event)).status_code == 201
    service = svc.token("front", ("link:write",), kind="service")
    assert (await svc.call("POST", "/v1/link-sessions/events", service, json=event)).status_code == 403
    on_behalf = {**event, "user_id": "dave"}
    assert (await svc.call("POST", "/v1/link-sessions/events", service, json=on_behalf)).status_code == 201
    rows = await svc.pool.fetch("SELECT user_id, item_id FROM link_sessions ORDER BY id")
    assert [(r["user_id"], r["item_id"]) for r in rows] == [("dave", daves["item_id"])] * 2
