"""GET /v1/items, /v1/accounts and /v1/accounts/{id}/balances against the real database: balances,
status, transaction counts and date coverage per account; removed transactions and other users' rows
never counted."""

from collections.abc import AsyncIterator
from datetime import date

import pytest

from .api_harness import LedgerApi, add_item, add_transactions, running_ledger_api, seed_alice_and_bob, tx

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(database_url: str, kafka_bootstrap_servers: str) -> AsyncIterator[LedgerApi]:
    async with running_ledger_api(database_url, kafka_bootstrap_servers) as running:
        await seed_alice_and_bob(running.pool)
        await add_transactions(
            running.pool,
            [
                tx("t-1", date=date(2026, 9, 3)),
                tx("t-2", date=date(2026, 11, 20)),
                tx("t-3", date=date(2027, 1, 1), removed=True),  # a tombstone: not counted
                tx("t-4", account_id="acc-a2", date=date(2026, 10, 10)),
                tx("t-b", user_id="bob", item_id="item-b", account_id="acc-b1"),
            ],
        )
        yield running


async def test_accounts_carry_balances_item_status_counts_and_coverage(api: LedgerApi) -> None:
    await api.pool.execute(
        "UPDATE items SET status = 'login_required', needs_repair = true WHERE item_id = 'item-a'"
    )
    r = await api.get("/v1/accounts")
    assert r.status_code == 200
    accounts = {a["account_id"]: a for a in r.json()["accounts"]}
    assert set(accounts) == {"acc-a1", "acc-a2"}
    a1 = accounts["acc-a1"]
    assert (a1["transaction_count"], a1["earliest_date"], a1["latest_date"]) == (
        2,
        "2026-09-03",
        "2026-11-20",
    )
    assert (a1["item_status"], a1["needs_repair"], a1["balance_current"]) == ("login_required", True, 100.0)
    assert accounts["acc-a2"]["transaction_count"] == 1
    only_b = await api.get("/v1/accounts", "bob")
    assert [a["account_id"] for a in only_b.json()["accounts"]] == ["acc-b1"]


async def test_items_list_their_accounts_and_hide_removed_items_unless_asked(api: LedgerApi) -> None:
    await add_item(api.pool, "item-old", "alice", removed=True)
    items = (await api.get("/v1/items")).json()["items"]
    assert [i["item_id"] for i in items] == ["item-a"]
    assert sorted(a["account_id"] for a in items[0]["accounts"]) == ["acc-a1", "acc-a2"]
    assert {a["account_id"]: a["transaction_count"] for a in items[0]["accounts"]} == {
        "acc-a1": 2,
        "acc-a2": 1,
    }
    everything = (await api.get("/v1/items", params={"include_removed": "true"})).json()["items"]
    assert {i["item_id"] for i in everything} == {"item-a", "item-old"}
    assert next(i for i in everything if i["item_id"] == "item-old")["accounts"] == []


async def test_balance_history_by_day_with_a_range(api: LedgerApi) -> None:
    await api.pool.execute(
        """INSERT INTO balance_history (account_id, day, balance_current, iso_currency_code, as_of)
           SELECT 'acc-a1', d::date, 100 + extract(day FROM d), 'USD', d
           FROM generate_series('2026-11-01'::timestamptz, '2026-11-10', '1 day') AS d"""
    )
    r = await api.get("/v1/accounts/acc-a1/balances", params={"from": "2026-11-03", "to": "2026-11-05"})
    assert r.status_code == 200
    assert [(p["day"], p["balance_current"]) for p in r.json()["points"]] == [
        ("2026-11-03", 103.0),
        ("2026-11-04", 104.0),
        ("2026-11-05", 105.0),
    ]
    inverted = await api.get(
        "/v1/accounts/acc-a1/balances", params={"from": "2026-11-05", "to": "2026-11-03"}
    )
    assert (inverted.status_code, inverted.json()["error"]["code"]) == (422, "invalid_parameter")
    assert (await api.get("/v1/accounts/acc-b1/balances")).status_code == 404
    assert (await api.get("/v1/accounts/nope/balances")).status_code == 404
