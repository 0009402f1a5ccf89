"""GET /v1/insights/spending, /cash-flow, /net-worth and GET /v1/review against the real database, over a
November whose every figure was added up by hand (the comments show the sums).

alice: acc-a1 checking, acc-a2 savings, acc-cc a credit card; acc-old on an Item removed on 11-10.
"""

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg
import pytest
from ledger_api.domain import events as ev

from .api_harness import (
    LedgerApi,
    add_item,
    add_transactions,
    bearer,
    read_events,
    running_ledger_api,
    seed_alice_and_bob,
    tx,
)

pytestmark = pytest.mark.integration

NOV = {"from": "2026-11-01", "to": "2026-11-30"}


def d(day: int, month: int = 11) -> date:
    return date(2026, month, day)


def _primary(detailed: str) -> str:
    for p in (
        "FOOD_AND_DRINK",
        "RENT_AND_UTILITIES",
        "LOAN_PAYMENTS",
        "TRANSFER_IN",
        "TRANSFER_OUT",
        "GENERAL_MERCHANDISE",
        "TRANSPORTATION",
        "INCOME",
    ):
        if detailed.startswith(p):
            return p
    raise ValueError(detailed)


def spend(
    tid: str, amount: float, day: date, detailed: str, merchant: str | None, **kw: Any
) -> dict[str, Any]:
    return tx(
        tid,
        amount=amount,
        date=day,
        merchant_name=merchant,
        name=(merchant or "ONLINE TRANSFER").upper(),
        category_primary=_primary(detailed),
        category_detailed=detailed,
        **kw,
    )


async def add_typed_account(db: asyncpg.Pool, account_id: str, item_id: str, kind: str, name: str) -> None:
    await db.execute(
        """INSERT INTO accounts (account_id, item_id, user_id, name, type, subtype, iso_currency_code)
           VALUES ($1, $2, 'alice', $3, $4, $4, 'USD')""",
        account_id,
        item_id,
        name,
        kind,
    )


NOVEMBER = [
    spend("t-coffee", 4.50, d(2), "FOOD_AND_DRINK_COFFEE", "Starbucks"),
    spend("t-wf1", 120.00, d(5), "FOOD_AND_DRINK_GROCERIES", "Whole Foods", account_id="acc-cc"),
    spend("t-wf2", 80.00, d(19), "FOOD_AND_DRINK_GROCERIES", "Whole Foods", account_id="acc-cc"),
    spend("t-rent", 1500.00, d(1), "RENT_AND_UTILITIES_RENT", "Oak Street Apartments"),
    spend("t-pay", -3000.00, d(15), "INCOME_SALARY", "Acme Corp"),
    # a card payment: out of checking, into the card two days later -> both legs left out
    spend("t-ccpay", 200.00, d(20), "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT", None),
    spend("t-ccin", -200.00, d(21), "TRANSFER_IN_ACCOUNT_TRANSFER", None, account_id="acc-cc"),
    # to savings -> both legs left out
    spend("t-sav-out", 500.00, d(25), "TRANSFER_OUT_ACCOUNT_TRANSFER", None),
    spend("t-sav-in", -500.00, d(26), "TRANSFER_IN_ACCOUNT_TRANSFER", None, account_id="acc-a2"),
    # decoys of the pairing: to a friend (no other leg), legs ten days apart, a reversal on one account
    spend("t-venmo", 60.00, d(27), "TRANSFER_OUT_ACCOUNT_TRANSFER", "Venmo"),
    spend("t-far-out", 300.00, d(10), "TRANSFER_OUT_ACCOUNT_TRANSFER", None),
    spend("t-far-in", -300.00, d(20), "TRANSFER_IN_ACCOUNT_TRANSFER", None, account_id="acc-a2"),
    spend("t-rev-out", 75.00, d(12), "TRANSFER_OUT_ACCOUNT_TRANSFER", "Zelle"),
    spend("t-rev-in", -75.00, d(12), "TRANSFER_IN_ACCOUNT_TRANSFER", "Zelle"),
    # counted only when asked for / never
    spend("t-uber", 25.00, d(28), "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", "Uber", pending=True),
    spend("t-hidden", 40.00, d(8), "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES", "Amazon", user_hidden=True),
    spend("t-removed", 999.00, d(9), "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES", "Amazon", removed=True),
    spend(
        "t-eur", 100.00, d(9), "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES", "Amazon", iso_currency_code="EUR"
    ),
    # the user's override wins: a superstore run the user filed under groceries
    spend(
        "t-target",
        35.00,
        d(14),
        "GENERAL_MERCHANDISE_SUPERSTORES",
        "Target",
        user_category_primary="FOOD_AND_DRINK",
        user_category_detailed="FOOD_AND_DRINK_GROCERIES",
    ),
    # a refund: money in, not negative spending
    spend("t-refund", -20.00, d(22), "FOOD_AND_DRINK_GROCERIES", "Whole Foods", account_id="acc-cc"),
    # outside the window, and another user's
    spend("t-oct", 5.00, d(30, 10), "FOOD_AND_DRINK_COFFEE", "Starbucks"),
    spend(
        "t-bob",
        777.00,
        d(3),
        "FOOD_AND_DRINK_COFFEE",
        "Starbucks",
        user_id="bob",
        item_id="item-b",
        account_id="acc-b1",
    ),
]


@pytest.fixture
async def api(database_url: str, kafka_bootstrap_servers: str) -> AsyncIterator[LedgerApi]:
    async with running_ledger_api(database_url, kafka_bootstrap_servers) as running:
        await seed_alice_and_bob(running.pool)
        await add_typed_account(running.pool, "acc-cc", "item-a", "credit", "Visa")
        await add_transactions(running.pool, NOVEMBER)
        yield running


async def test_spending_by_category_totals_shares_and_top_merchants(api: LedgerApi) -> None:
    r = await api.get("/v1/insights/spending", params={**NOV, "top": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    # FOOD_AND_DRINK 4.50 + 120 + 80 + 35 (Target, overridden) = 239.50 (4)
    # RENT_AND_UTILITIES 1500 (1); TRANSFER_OUT 60 + 300 + 75 = 435 (3); total 2174.50 (8)
    assert [(g["key"], g["total"], g["count"]) for g in body["groups"]] == [
        ("RENT_AND_UTILITIES", 1500.0, 1),
        ("TRANSFER_OUT", 435.0, 3),
        ("FOOD_AND_DRINK", 239.5, 4),
    ]
    assert (body["total"], body["count"]) == (2174.5, 8)
    assert [g["share"] for g in body["groups"]] == [0.6898, 0.2, 0.1101]  # 1500/2174.5, 435/.., 239.5/..
    assert [(m["merchant"], m["total"], m["count"]) for m in body["top_merchants"]] == [
        ("Oak Street Apartments", 1500.0, 1),
        ("ONLINE TRANSFER", 300.0, 1),
        ("Whole Foods", 200.0, 2),
    ]
    # the card payment (200 + 200) and the move to savings (500 + 500)
    assert body["internal_transfers"] == {"total": 1400.0, "count": 4}
    assert body["window"] == NOV


async def test_top_merchants_are_the_same_whichever_the_grouping_and_none_when_not_asked(
    api: LedgerApi,
) -> None:
    # Grouped by merchant, the top merchants are the first groups (no second grouping); top=0 asks for
    # none (no merchant grouping at all) and leaves the groups as they were.
    async def spending(**params: Any) -> dict[str, Any]:
        r = await api.get("/v1/insights/spending", params={**NOV, **params})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    by_category = await spending(top=3)
    by_merchant = await spending(group_by="merchant", top=3)
    assert by_merchant["top_merchants"] == by_category["top_merchants"]
    assert [(m["merchant"], m["total"], m["count"], m["share"]) for m in by_merchant["top_merchants"]] == [
        (g["key"], g["total"], g["count"], g["share"]) for g in by_merchant["groups"][:3]
    ]
    for group_by in ("category", "merchant"):
        full, bare = await spending(group_by=group_by), await spending(group_by=group_by, top=0)
        assert (bare["top_merchants"], bare["groups"]) == ([], full["groups"])
        assert (bare["total"], bare["internal_transfers"]) == (full["total"], full["internal_transfers"])
    refused = await api.get("/v1/insights/spending", params={**NOV, "top": -1})
    assert refused.status_code == 422


async def test_spending_counts_pending_and_hidden_only_when_asked(api: LedgerApi) -> None:
    base = (await api.get("/v1/insights/spending", params=NOV)).json()["total"]
    pending = await api.get("/v1/insights/spending", params={**NOV, "include_pending": "true"})
    both = await api.get(
        "/v1/insights/spending", params={**NOV, "include_pending": "true", "include_hidden": "true"}
    )
    assert (base, pending.json()["total"], both.json()["total"]) == (2174.5, 2199.5, 2239.5)
    eur = await api.get("/v1/insights/spending", params={**NOV, "currency": "EUR"})
    assert (eur.json()["total"], eur.json()["groups"][0]["key"]) == (100.0, "GENERAL_MERCHANDISE")


async def test_spending_by_detailed_category_account_month_and_merchant(api: LedgerApi) -> None:
    async def groups(**params: str) -> list[tuple[Any, ...]]:
        r = await api.get("/v1/insights/spending", params={**NOV, **params})
        assert r.status_code == 200, r.text
        return [(g["key"], g.get("label"), g["total"], g["count"]) for g in r.json()["groups"]]

    detailed = await groups(group_by="detailed_category")
    assert ("FOOD_AND_DRINK_GROCERIES", None, 235.0, 3) in detailed  # 120 + 80 + 35 (override)
    assert await groups(group_by="account") == [
        ("acc-a1", "Checking acc-a1", 1974.5, 6),  # 4.5 + 1500 + 60 + 300 + 75 + 35
        ("acc-cc", "Visa", 200.0, 2),
    ]
    assert await groups(group_by="month", **{"from": "2026-10-15"}) == [
        ("2026-11", None, 2174.5, 8),
        ("2026-10", None, 5.0, 1),
    ]
    merchants = await groups(group_by="merchant")
    assert merchants[0] == ("Oak Street Apartments", None, 1500.0, 1)
    assert ("Starbucks", None, 4.5, 1) in merchants  # bob's 777 and October's 5.00 are not in it


async def test_an_override_moves_spending_between_categories(api: LedgerApi) -> None:
    edited = await api.patch("/v1/transactions/t-rent", {"category": "FOOD_AND_DRINK_RESTAURANT"})
    assert edited.status_code == 200
    groups = (await api.get("/v1/insights/spending", params=NOV)).json()["groups"]
    assert {g["key"]: g["total"] for g in groups} == {"FOOD_AND_DRINK": 1739.5, "TRANSFER_OUT": 435.0}


async def test_a_hidden_or_pending_leg_of_an_own_transfer_is_left_out_once(api: LedgerApi) -> None:
    # The legs of own-account transfers are subtracted from the sum of the scope: a leg the scope already
    # leaves out (hidden, pending) must not be subtracted as well.
    spending, cash_flow = "/v1/insights/spending", "/v1/insights/cash-flow"
    before = {path: (await api.get(path, params=NOV)).json() for path in (spending, cash_flow)}
    await add_transactions(
        api.pool,
        [
            spend("t-hid-out", 90.00, d(6), "TRANSFER_OUT_ACCOUNT_TRANSFER", None, user_hidden=True),
            spend("t-hid-in", -90.00, d(6), "TRANSFER_IN_ACCOUNT_TRANSFER", None, account_id="acc-a2"),
            spend("t-pend-out", 45.00, d(7), "TRANSFER_OUT_ACCOUNT_TRANSFER", None, pending=True),
            spend("t-pend-in", -45.00, d(8), "TRANSFER_IN_ACCOUNT_TRANSFER", None, account_id="acc-a2"),
        ],
    )
    after = (await api.get(spending, params=NOV)).json()
    assert (after["total"], after["groups"]) == (before[spending]["total"], before[spending]["groups"])
    # 1400 as before, and the two legs in the scope: 90 in, 45 in
    assert after["internal_transfers"] == {"total": 1535.0, "count": 6}
    assert (await api.get(cash_flow, params=NOV)).json() == before[cash_flow]
    every = {**NOV, "include_pending": "true", "include_hidden": "true"}
    everything = (await api.get(spending, params=every)).json()
    assert everything["total"] == 2239.5  # as without these transfers (the test above)
    assert everything["internal_transfers"] == {"total": 1670.0, "count": 8}  # 1400 + 90 + 90 + 45 + 45


async def test_cash_flow_per_month_and_week(api: LedgerApi) -> None:
    r = await api.get("/v1/insights/cash-flow", params={"from": "2026-10-01", "to": "2026-11-30"})
    assert r.status_code == 200, r.text
    body = r.json()
    # November: income 3000 + 300 + 75 + 20 = 3395; expenses 2174.50 (the spending above)
    assert [(p["start"], p["end"], p["income"], p["expenses"], p["net"]) for p in body["periods"]] == [
        ("2026-10-01", "2026-10-31", 0.0, 5.0, -5.0),
        ("2026-11-01", "2026-11-30", 3395.0, 2174.5, 1220.5),
    ]
    assert (body["income"], body["expenses"], body["net"]) == (3395.0, 2179.5, 1215.5)

    weeks = (await api.get("/v1/insights/cash-flow", params={**NOV, "interval": "week"})).json()["periods"]
    assert [(p["start"], p["end"]) for p in weeks] == [
        ("2026-11-01", "2026-11-01"),  # the ISO week of Monday 10-26, clipped to the window
        ("2026-11-02", "2026-11-08"),
        ("2026-11-09", "2026-11-15"),
        ("2026-11-16", "2026-11-22"),
        ("2026-11-23", "2026-11-29"),
        ("2026-11-30", "2026-11-30"),
    ]
    assert (weeks[1]["income"], weeks[1]["expenses"]) == (0.0, 124.5)  # coffee 4.50 + Whole Foods 120
    # pay 3000 + 75 in; 300 out, 75 out, Target 35
    assert (weeks[2]["income"], weeks[2]["expenses"]) == (3075.0, 410.0)
    assert weeks[5]["count"] == 0
    assert sum(p["expenses"] for p in weeks) == 2174.5


async def test_net_worth_carries_balances_forward_and_subtracts_what_is_owed(api: LedgerApi) -> None:
    await add_item(api.pool, "item-old", "alice")
    await api.pool.execute("UPDATE items SET removed_at = '2026-11-10T12:00:00Z' WHERE item_id = 'item-old'")
    await add_typed_account(api.pool, "acc-old", "item-old", "depository", "Old checking")
    await api.pool.executemany(
        """INSERT INTO balance_history (account_id, day, balance_current, iso_currency_code, as_of)
           VALUES ($1, $2, $3, 'USD', now())""",
        [
            ("acc-a1", d(1), 1000),
            ("acc-a1", d(15), 4000),
            ("acc-a2", d(20, 10), 5000),
            ("acc-a2", d(26), 5500),
            ("acc-cc", d(5), 120),
            ("acc-cc", d(21), 0),
            ("acc-old", d(1), 700),
            ("acc-b1", d(1), 99999),
        ],
    )
    days = await api.get(
        "/v1/insights/net-worth", params={"from": "2026-11-04", "to": "2026-11-10", "interval": "day"}
    )
    assert days.status_code == 200, days.text
    points = {p["date"]: p for p in days.json()["points"]}
    # 11-04: 1000 + 5000 + 700 (the card has no balance yet)
    assert (points["2026-11-04"]["net_worth"], points["2026-11-04"]["accounts"]) == (6700.0, 3)
    p5 = points["2026-11-05"]  # the card now owes 120
    assert (p5["assets"], p5["liabilities"], p5["net_worth"]) == (6700.0, 120.0, 6580.0)
    assert p5["by_type"] == {"credit": 120.0, "depository": 6700.0}
    assert points["2026-11-10"]["net_worth"] == 5880.0  # the removed Item's account is gone on 11-10

    months = await api.get("/v1/insights/net-worth", params={"from": "2026-10-01", "to": "2026-11-30"})
    assert [(p["date"], p["net_worth"], p["accounts"]) for p in months.json()["points"]] == [
        ("2026-10-31", 5000.0, 1),
        ("2026-11-30", 9500.0, 3),  # 4000 + 5500 - 0
    ]


async def test_refusals_and_isolation(api: LedgerApi) -> None:
    inverted = await api.get("/v1/insights/spending", params={"from": "2026-11-30", "to": "2026-11-01"})
    assert (inverted.status_code, inverted.json()["error"]["code"]) == (422, "invalid_parameter")
    for path, params in (
        ("/v1/insights/spending", {"group_by": "colour"}),
        ("/v1/insights/cash-flow", {"interval": "fortnight"}),
        ("/v1/insights/net-worth", {"currency": "usd"}),
        ("/v1/insights/recurring", {"lookback_days": "5"}),
        ("/v1/review", {"limit": "0"}),
        ("/v1/insights/spending", {"gruop_by": "merchant"}),
    ):
        r = await api.get(path, params=params)
        assert r.status_code == 422, (path, params, r.text)
    too_long = await api.get("/v1/insights/net-worth", params={"from": "2000-01-01", "to": "2026-01-01"})
    assert too_long.status_code == 422
    for path, params in (  # a default window or lookback that would leave the calendar, or its ends
        ("/v1/insights/spending", {"to": "0001-01-05"}),
        ("/v1/insights/cash-flow", {"from": "9999-12-30"}),
        ("/v1/insights/recurring", {"as_of": "0001-01-02"}),
        # date.min and date.max reach PostgreSQL as -infinity and infinity: a series of periods from
        # or to them never ended (a backend busy until cancelled), or overflowed (a 500)
        ("/v1/insights/cash-flow", {"from": "0001-01-01"}),
        ("/v1/insights/cash-flow", {"interval": "week", "from": "0001-01-01", "to": "0001-02-01"}),
        ("/v1/insights/net-worth", {"to": "9999-12-31", "interval": "day"}),
        ("/v1/insights/cash-flow", {"to": "9999-12-31"}),
        ("/v1/review", {"from": "0001-01-01"}),
    ):
        edge = await api.get(path, params=params)
        assert (edge.status_code, edge.json()["error"]["code"]) == (422, "invalid_parameter"), path
    for path, params, points in (  # the days next to them are fine
        ("/v1/insights/cash-flow", {"from": "9999-12-01", "to": "9999-12-30"}, 1),
        ("/v1/insights/cash-flow", {"interval": "week", "from": "0001-01-02", "to": "0001-01-20"}, 3),
        ("/v1/insights/net-worth", {"from": "9999-12-20", "to": "9999-12-30", "interval": "day"}, 0),
    ):
        near = await api.get(path, params=params)
        assert near.status_code == 200, (path, near.text)
        assert len(near.json()["periods" if "cash" in path else "points"]) == points, near.text
    bob = (await api.get("/v1/insights/spending", "bob", params=NOV)).json()
    assert (bob["total"], bob["count"]) == (777.0, 1)
    no_scope = await api.http.get(
        "/v1/insights/spending", headers=bearer("alice", ["ledger:write"]), params=NOV
    )
    assert no_scope.status_code == 403
    service = bearer("svc", ["ledger:read"], kind="service")
    anonymous = await api.http.get("/v1/insights/cash-flow", headers=service, params=NOV)
    assert anonymous.status_code == 403
    for_alice = await api.http.get(
        "/v1/insights/cash-flow", headers=service, params={**NOV, "user_id": "alice"}
    )
    assert for_alice.json()["income"] == 3395.0


REVIEW = [
    spend("r-old", 4.0, d(1, 10), "FOOD_AND_DRINK_COFFEE", "Starbucks"),
    spend("r-known", 4.5, d(2), "FOOD_AND_DRINK_COFFEE", "Starbucks"),  # known merchant, sure: not queued
    spend("r-deli", 12.0, d(3), "FOOD_AND_DRINK_RESTAURANT", "Corner Deli", category_confidence=0.95),
    spend("r-deli2", 11.0, d(9), "FOOD_AND_DRINK_RESTAURANT", "Corner Deli"),  # not its first row
    spend("r-xyz-old", 9.0, d(5, 10), "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE", "XYZ"),
    spend(
        "r-fallback",
        9.0,
        d(4),
        "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE",
        "XYZ",
        category_source="fallback",
        category_confidence=0.0,
        category_needs_review=True,
    ),
    spend(
        "r-unsure",
        30.0,
        d(6),
        "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES",
        "Starbucks",
        category_source="model",
        category_confidence=0.3,
        category_needs_review=True,
    ),
    spend(
        "r-done",
        9.0,
        d(7),
        "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE",
        "XYZ",
        category_source="fallback",
        user_category_primary="FOOD_AND_DRINK",
        user_category_detailed="FOOD_AND_DRINK_COFFEE",
    ),
    spend(
        "r-gone",
        9.0,
        d(7),
        "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE",
        "XYZ",
        category_source="fallback",
        removed=True,
    ),
    spend(
        "r-hid",
        9.0,
        d(8),
        "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE",
        "XYZ",
        category_source="fallback",
        user_hidden=True,
    ),
    spend(
        "r-bob",
        9.0,
        d(8),
        "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE",
        "QQQ",
        user_id="bob",
        item_id="item-b",
        account_id="acc-b1",
        category_source="fallback",
    ),
]


@pytest.fixture
async def review_api(database_url: str, kafka_bootstrap_servers: str) -> AsyncIterator[LedgerApi]:
    async with running_ledger_api(database_url, kafka_bootstrap_servers) as running:
        await seed_alice_and_bob(running.pool)
        await add_transactions(running.pool, REVIEW)
        yield running


async def test_review_queue_lists_what_to_check_and_a_patch_takes_it_out(
    review_api: LedgerApi, kafka_bootstrap_servers: str
) -> None:
    api = review_api
    r = await api.get("/v1/review", params=NOV)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(i["transaction"]["transaction_id"], i["reasons"]) for i in body["items"]] == [
        ("r-unsure", ["low_confidence", "flagged"]),
        ("r-fallback", ["fallback", "low_confidence", "flagged"]),
        ("r-deli", ["new_merchant"]),
    ]
    assert body["total"] == 3
    assert body["items"][0]["transaction"]["category"]["confidence"] == 0.3
    looser = await api.get("/v1/review", params={**NOV, "confidence_below": "0.96", "limit": "2"})
    assert looser.json()["total"] == 5  # r-known (0.9) and r-deli2 (0.9) are below 0.96 too
    assert len(looser.json()["items"]) == 2

    fixed = await api.patch("/v1/transactions/r-unsure", {"category": "FOOD_AND_DRINK_COFFEE"})
    assert fixed.status_code == 200
    after = (await api.get("/v1/review", params=NOV)).json()
    assert [i["transaction"]["transaction_id"] for i in after["items"]] == ["r-fallback", "r-deli"]
    published = await read_events(kafka_bootstrap_servers, api.topic(ev.TOPIC_CATEGORY_OVERRIDES), at_least=1)
    assert [(e.type, e.subject) for e in published] == [(ev.CATEGORY_OVERRIDDEN, "r-unsure")]
    assert (await api.get("/v1/review", "bob", params=NOV)).json()["total"] == 1
