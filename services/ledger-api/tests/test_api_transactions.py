"""GET /v1/transactions and /v1/transactions/{id} against the real database: filters on the effective
category, sorts, keyset pages that stay stable while transactions arrive, ETags, per-user isolation."""

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from .api_harness import (
    READ,
    LedgerApi,
    add_change,
    add_transactions,
    bearer,
    running_ledger_api,
    seed_alice_and_bob,
    tx,
)

pytestmark = pytest.mark.integration

DAY0 = date(2026, 10, 1)


@pytest.fixture
async def api(database_url: str, kafka_bootstrap_servers: str) -> AsyncIterator[LedgerApi]:
    async with running_ledger_api(database_url, kafka_bootstrap_servers) as running:
        await seed_alice_and_bob(running.pool)
        yield running


async def ids(api: LedgerApi, user: str = "alice", **params: Any) -> list[str]:
    r = await api.get("/v1/transactions", user, params=params)
    assert r.status_code == 200, r.text
    return [t["transaction_id"] for t in r.json()["transactions"]]


async def test_filters_apply_to_the_effective_category_and_the_other_fields(api: LedgerApi) -> None:
    await add_transactions(
        api.pool,
        [
            tx("t-coffee", date=DAY0, amount=4.5),
            # the categorizer said coffee; the user said groceries: the user's category is the one shown
            tx(
                "t-edited",
                date=DAY0 + timedelta(days=1),
                amount=60,
                user_category_primary="FOOD_AND_DRINK",
                user_category_detailed="FOOD_AND_DRINK_GROCERIES",
            ),
            tx(
                "t-rent",
                date=DAY0 + timedelta(days=2),
                amount=1500,
                account_id="acc-a2",
                name="ACH RENT OCT",
                merchant_name=None,
                category_primary="RENT_AND_UTILITIES",
                category_detailed="RENT_AND_UTILITIES_RENT",
            ),
            tx("t-pending", date=DAY0 + timedelta(days=3), pending=True, amount=-20),
            tx("t-removed", date=DAY0 + timedelta(days=4), removed=True),
            tx("t-bob", user_id="bob", item_id="item-b", account_id="acc-b1", date=DAY0),
        ],
    )
    assert await ids(api) == ["t-pending", "t-rent", "t-edited", "t-coffee"]
    assert await ids(api, category="FOOD_AND_DRINK_COFFEE") == ["t-pending", "t-coffee"]
    assert await ids(api, category="FOOD_AND_DRINK_GROCERIES") == ["t-edited"]
    assert await ids(api, category="RENT_AND_UTILITIES") == ["t-rent"]
    assert await ids(api, account_id="acc-a2") == ["t-rent"]
    assert await ids(api, item_id="item-a", pending="true") == ["t-pending"]
    assert await ids(api, q="rent") == ["t-rent"]
    assert await ids(api, q="starb") == ["t-pending", "t-edited", "t-coffee"]
    assert await ids(api, amount_min="5", amount_max="100") == ["t-edited"]
    assert await ids(api, **{"from": "2026-10-02", "to": "2026-10-03"}) == ["t-rent", "t-edited"]
    assert await ids(api, include_removed="true") == [
        "t-removed",
        "t-pending",
        "t-rent",
        "t-edited",
        "t-coffee",
    ]
    assert await ids(api, sort="amount_asc") == ["t-pending", "t-coffee", "t-edited", "t-rent"]
    assert await ids(api, sort="date_asc") == ["t-coffee", "t-edited", "t-rent", "t-pending"]

    shown = (await api.get("/v1/transactions", params={"category": "FOOD_AND_DRINK_GROCERIES"})).json()
    edited = shown["transactions"][0]
    assert edited["category"]["source"] == "user"
    assert edited["categorizer_category"]["detailed"] == "FOOD_AND_DRINK_COFFEE"
    assert edited["user"]["category"] == {"primary": "FOOD_AND_DRINK", "detailed": "FOOD_AND_DRINK_GROCERIES"}


async def test_keyset_pages_neither_skip_nor_repeat_while_transactions_arrive(api: LedgerApi) -> None:
    await add_transactions(
        api.pool, [tx(f"t-{i:03d}", date=DAY0 + timedelta(days=i % 20), amount=i) for i in range(100)]
    )
    for sort in ("date_desc", "amount_asc"):
        seen: list[str] = []
        cursor = None
        arrived = 0
        while True:
            params = {"limit": 7, "sort": sort, **({"cursor": cursor} if cursor else {})}
            r = await api.get("/v1/transactions", params=params)
            assert r.status_code == 200, r.text
            seen += [t["transaction_id"] for t in r.json()["transactions"]]
            cursor = r.json()["next_cursor"]
            # new rows land before, among and after the rows still to come (same dates, same amounts)
            await add_transactions(
                api.pool,
                [
                    tx(f"n-{sort}-{arrived}-{k}", date=DAY0 + timedelta(days=k * 7 % 21), amount=k * 13 % 101)
                    for k in range(3)
                ],
            )
            arrived += 1
            if cursor is None:
                break
        original = [s for s in seen if s.startswith("t-")]
        assert len(seen) == len(set(seen)), "a row was served twice"
        assert sorted(original) == [f"t-{i:03d}" for i in range(100)], "a row that existed was skipped"


async def test_a_cursor_only_works_with_the_query_it_came_from(api: LedgerApi) -> None:
    await add_transactions(api.pool, [tx(f"t-{i}", date=DAY0 + timedelta(days=i)) for i in range(5)])
    first = (await api.get("/v1/transactions", params={"limit": 2})).json()
    cursor = first["next_cursor"]
    assert cursor
    again = await api.get("/v1/transactions", params={"limit": 2, "cursor": cursor})
    assert again.status_code == 200
    other = await api.get("/v1/transactions", params={"limit": 2, "cursor": cursor, "pending": "true"})
    assert other.status_code == 400
    assert other.json()["error"]["code"] == "invalid_cursor"
    resorted = await api.get("/v1/transactions", params={"cursor": cursor, "sort": "amount_desc"})
    assert resorted.status_code == 400
    # bob cannot reuse alice's cursor either: it is bound to the user it was issued for
    assert (
        await api.get("/v1/transactions", "bob", params={"limit": 2, "cursor": cursor})
    ).status_code == 400


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"cursor": "not-a-cursor"}, 400, "invalid_cursor"),
        ({"cursor": "eyJ2IjoxLCJrIjoidHgiLCJwIjpbMSwyXX0"}, 400, "invalid_cursor"),  # forged JSON
        ({"from": "2026-10-05", "to": "2026-10-01"}, 422, "invalid_parameter"),
        ({"amount_min": "10", "amount_max": "1"}, 422, "invalid_parameter"),
        ({"limit": "501"}, 422, "validation_error"),
        ({"limit": "0"}, 422, "validation_error"),
        ({"category": "FOOD_AND_DRANK"}, 422, "invalid_parameter"),
        ({"sort": "name"}, 422, "validation_error"),
        ({"acount_id": "acc-a1"}, 422, "validation_error"),  # a misspelt filter is refused, not ignored
        ({"from": "yesterday"}, 422, "validation_error"),
        ({"pending": "maybe"}, 422, "validation_error"),
        ({"q": "   "}, 422, "invalid_parameter"),
        ({"amount_min": "1e-16384"}, 422, "validation_error"),  # the driver refused to encode it: a 500
    ],
)
async def test_bad_input_is_a_4xx_with_a_reason(api: LedgerApi, params: dict, status: int, code: str) -> None:
    r = await api.get("/v1/transactions", params=params)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]


async def test_etag_answers_304_until_something_on_the_page_changes(api: LedgerApi) -> None:
    await add_transactions(api.pool, [tx("t-1"), tx("t-2", date=DAY0)])
    first = await api.get("/v1/transactions")
    tag = first.headers["etag"]
    same = await api.get("/v1/transactions", headers={"If-None-Match": tag})
    assert same.status_code == 304
    assert same.content == b""
    await api.pool.execute("UPDATE transactions SET version = 2, amount = 11 WHERE transaction_id = 't-2'")
    changed = await api.get("/v1/transactions", headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag

    one = await api.get("/v1/transactions/t-2")
    assert one.headers["etag"] == 'W/"2.0"'
    assert (await api.get("/v1/transactions/t-2", headers={"If-None-Match": 'W/"2.0"'})).status_code == 304


async def test_one_transaction_shows_its_history_and_users_see_only_their_own(api: LedgerApi) -> None:
    await add_transactions(
        api.pool, [tx("t-a"), tx("t-b", user_id="bob", item_id="item-b", account_id="acc-b1")]
    )
    await add_change(api.pool, "t-a", op="added")
    await add_change(api.pool, "t-a", op="recategorized")
    r = await api.get("/v1/transactions/t-a")
    assert r.status_code == 200
    body = r.json()
    assert body["category"]["detailed"] == "FOOD_AND_DRINK_COFFEE"
    assert body["category"]["source"] == "learned"
    assert [h["op"] for h in body["history"]] == ["added", "recategorized"]

    assert await ids(api, "bob") == ["t-b"]
    for path in ("/v1/transactions/t-a", "/v1/accounts/acc-a1/balances"):
        refused = await api.get(path, "bob")
        assert refused.status_code == 404, path
    assert (await api.patch("/v1/transactions/t-a", {"notes": "mine now"}, "bob")).status_code == 404
    assert (await api.get("/v1/transactions/t-a")).json()["user"]["notes"] is None


async def test_a_service_token_must_name_the_user_and_a_user_token_cannot(api: LedgerApi) -> None:
    await add_transactions(api.pool, [tx("t-a")])
    service = bearer("reporting", READ, kind="service")
    unnamed = await api.http.get("/v1/transactions", headers=service)
    assert unnamed.status_code == 403
    named = await api.http.get("/v1/transactions", params={"user_id": "alice"}, headers=service)
    assert [t["transaction_id"] for t in named.json()["transactions"]] == ["t-a"]
    other = await api.http.get("/v1/transactions", params={"user_id": "alice"}, headers=bearer("bob"))
    assert other.status_code == 403
    no_scope = await api.http.get("/v1/transactions", headers=bearer("alice", ["items:read"]))
    assert no_scope.status_code == 403
    assert (await api.http.get("/v1/transactions")).status_code == 401


async def test_a_list_shows_each_transaction_exactly_as_the_one_transaction_view(api: LedgerApi) -> None:
    """The list's JSON is built by PostgreSQL, the detail's by domain.views: they must not drift apart."""
    await add_transactions(
        api.pool,
        [
            tx("t-plain", amount=4.5, category_confidence=0.9, authorized_date=DAY0),
            tx(
                "t-edited",
                datetime=datetime(2026, 10, 1, 12, 30, tzinfo=UTC),
                user_category_primary="FOOD_AND_DRINK",
                user_category_detailed="FOOD_AND_DRINK_GROCERIES",
                user_notes="weekly shop",
                user_tags=["home", "food"],
                user_hidden=True,
            ),
            tx(
                "t-bare",
                category_primary=None,
                category_detailed=None,
                category_source=None,
                category_confidence=None,
                category_decided_by=None,
                merchant_name=None,
                pending=True,
                pending_transaction_id="t-earlier",
                amount=-1234.05,
            ),
        ],
    )
    await api.pool.execute("UPDATE transactions SET updated_at = '2026-11-01T10:00:00Z'")  # 0 microseconds
    listed = (await api.get("/v1/transactions")).json()["transactions"]
    assert len(listed) == 3
    detail_only = {"user_edited_at", "successor_id", "history"}
    for shown in listed:
        one = (await api.get(f"/v1/transactions/{shown['transaction_id']}")).json()
        assert shown == {k: v for k, v in one.items() if k not in detail_only}
