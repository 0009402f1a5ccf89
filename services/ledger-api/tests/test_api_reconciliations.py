"""POST /v1/reconciliations and GET /v1/reconciliations/{id} against the real database: matching with an
amount tolerance, a date window and description similarity, one to one by the best total score (decoys
that a greedy matcher takes), unmatched on both sides, the answer kept, and per-user isolation."""

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from ledger_api.handlers import reconciliations

from .api_harness import LedgerApi, add_transactions, bearer, running_ledger_api, seed_alice_and_bob, tx

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(database_url: str, kafka_bootstrap_servers: str) -> AsyncIterator[LedgerApi]:
    async with running_ledger_api(database_url, kafka_bootstrap_servers) as running:
        await seed_alice_and_bob(running.pool)
        yield running


async def post(api: LedgerApi, body: dict[str, Any], user: str = "alice") -> Any:
    return await api.http.post("/v1/reconciliations", json=body, headers=bearer(user))


def d(day: int) -> date:
    return date(2026, 11, day)


async def test_decoys_lose_to_the_right_transaction_and_both_sides_report_their_leftovers(
    api: LedgerApi,
) -> None:
    await add_transactions(
        api.pool,
        [
            # the rent, paid a day late; a decoy of the same amount on the very day, another payee
            tx("rent", amount=1250.0, date=d(2), name="ACME PROPERTY MGMT RENT", merchant_name=None),
            tx("decoy-rent", amount=1250.0, date=d(1), name="TRANSFER TO SAVINGS", merchant_name=None),
            # netflix off by 20 cents (tolerance 0.5); a decoy of exactly the amount, two days out, other name
            tx("netflix", amount=15.69, date=d(5), name="NETFLIX.COM", merchant_name="Netflix"),
            tx("decoy-15", amount=15.49, date=d(7), name="CORNER DELI", merchant_name=None),
            # out of the window (9 days) and out of tolerance (1 dollar): never candidates
            tx("late", amount=60.0, date=d(20), name="GYM CLUB", merchant_name=None),
            tx("pricier", amount=61.0, date=d(11), name="GYM CLUB", merchant_name=None),
            # another account of alice's, outside the account the request names
            tx("other-acct", account_id="acc-a2", amount=1250.0, date=d(1), name="ACME PROPERTY MGMT RENT"),
            # bob's transaction: never seen
            tx("bobs", user_id="bob", item_id="item-b", account_id="acc-b1", amount=1250.0, date=d(1)),
        ],
    )
    answer = await post(
        api,
        {
            "account_id": "acc-a1",
            "amount_tolerance": 0.5,
            "date_window_days": 3,
            "entries": [
                {"reference": "r-1", "amount": 1250.0, "date": "2026-11-01", "description": "Acme rent"},
                {"reference": "n-1", "amount": 15.49, "date": "2026-11-05", "description": "Netflix"},
                {"reference": "g-1", "amount": 60.0, "date": "2026-11-11", "description": "Gym club"},
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    pairs = {m["entry"]["reference"]: m["transaction"]["transaction_id"] for m in body["matched"]}
    assert pairs == {"r-1": "rent", "n-1": "netflix"}
    netflix = next(m for m in body["matched"] if m["entry"]["reference"] == "n-1")
    assert netflix["amount_difference"] == pytest.approx(0.2)
    assert netflix["days_apart"] == 0
    assert [e["reference"] for e in body["unmatched_entries"]] == ["g-1"]
    # every transaction of acc-a1 in the span (Oct 29 .. Nov 14) that no entry took
    assert {t["transaction_id"] for t in body["unmatched_transactions"]} == {
        "decoy-rent",
        "decoy-15",
        "pricier",
    }
    assert body["summary"] == {
        "entries": 3,
        "matched": 2,
        "unmatched_entries": 1,
        "unmatched_transactions": 3,
        "matched_amount": pytest.approx(1265.49),
    }

    again = await api.get(f"/v1/reconciliations/{body['reconciliation_id']}")
    assert again.status_code == 200
    assert again.json() == body
    assert (await api.get(f"/v1/reconciliations/{body['reconciliation_id']}", user="bob")).status_code == 404
    assert (await api.get("/v1/reconciliations/not-a-uuid")).status_code == 404


async def test_the_assignment_maximizes_the_total_not_first_come(api: LedgerApi) -> None:
    """Entry A fits both transactions (X a little better); entry B fits only X. Greedy in entry order
    gives A->X and leaves B out; the best total gives A->Y and B->X."""
    await add_transactions(
        api.pool,
        [
            tx("x", amount=40.0, date=d(10), name="Hardware store", merchant_name=None),
            tx("y", amount=40.0, date=d(11), name="Hardware store", merchant_name=None),
        ],
    )
    body = (
        await post(
            api,
            {
                "account_id": "acc-a1",
                "date_window_days": 2,
                "entries": [
                    {"reference": "A", "amount": 40.0, "date": "2026-11-10", "description": "Hardware store"},
                    {"reference": "B", "amount": 40.0, "date": "2026-11-08", "description": "Hardware store"},
                ],
            },
        )
    ).json()
    pairs = {m["entry"]["reference"]: m["transaction"]["transaction_id"] for m in body["matched"]}
    assert pairs == {"A": "y", "B": "x"}
    assert body["unmatched_entries"] == []
    assert body["unmatched_transactions"] == []


async def test_two_equal_entries_take_two_transactions_never_one_twice(api: LedgerApi) -> None:
    await add_transactions(api.pool, [tx("c1", amount=4.5, date=d(3), name="Blue Bottle Coffee")])
    entry = {"amount": 4.5, "date": "2026-11-03", "description": "Blue Bottle"}
    body = (await post(api, {"entries": [entry, entry]})).json()
    assert [m["transaction"]["transaction_id"] for m in body["matched"]] == ["c1"]
    assert len(body["unmatched_entries"]) == 1


async def test_min_similarity_turns_away_a_same_amount_stranger(api: LedgerApi) -> None:
    await add_transactions(
        api.pool, [tx("s", amount=9.99, date=d(4), name="SPOTIFY USA", merchant_name=None)]
    )
    entries = [{"amount": 9.99, "date": "2026-11-04", "description": "Dropbox"}]
    loose = (await post(api, {"entries": entries})).json()
    strict = (await post(api, {"entries": entries, "min_similarity": 0.5})).json()
    assert loose["summary"]["matched"] == 1
    assert strict["summary"]["matched"] == 0
    assert [t["transaction_id"] for t in strict["unmatched_transactions"]] == ["s"]


async def test_refusals(api: LedgerApi) -> None:
    entry = {"amount": 1.0, "date": "2026-11-01", "description": "x"}
    assert (await post(api, {"entries": [entry], "account_id": "acc-b1"})).status_code == 404  # bob's
    assert (await post(api, {"entries": [{**entry, "account_id": "nope"}]})).status_code == 404
    assert (await post(api, {"entries": []})).status_code == 422
    assert (await post(api, {"entries": [{**entry, "date": "yesterday"}]})).status_code == 422
    assert (await post(api, {"entries": [entry], "date_window_days": -1})).status_code == 422
    assert (await post(api, {"entries": [entry], "extra": 1})).status_code == 422
    no_scope = await api.http.post(
        "/v1/reconciliations", json={"entries": [entry]}, headers=bearer("alice", ())
    )
    assert no_scope.status_code == 403
    assert (await api.http.post("/v1/reconciliations", json={"entries": [entry]})).status_code == 401


async def test_a_reconciliation_too_large_to_weigh_is_refused_not_run(
    api: LedgerApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every (entry, transaction) pair within the tolerance and window is scored in Python: 5,000 entries
    against 200 transactions at a wide tolerance held the process 15 s. Past MAX_CANDIDATE_PAIRS, or past
    MAX_COVERED transactions in the span answered for, the request is a 422 that says what to narrow."""
    await add_transactions(
        api.pool, [tx(f"many-{i}", date=d(10 + i % 10), amount=5.0 + i % 7) for i in range(200)]
    )
    entry = {"amount": 8.0, "date": "2026-11-15", "description": "Starbucks"}
    wide = await post(api, {"entries": [entry] * 300, "amount_tolerance": 1000, "date_window_days": 60})
    assert wide.status_code == 422, wide.text
    assert "pairs are within the amount tolerance" in wide.json()["error"]["message"]
    assert (await post(api, {"entries": [entry] * 300})).status_code == 201  # a few thousand pairs

    monkeypatch.setattr(reconciliations, "MAX_COVERED", 100)  # 140 of alice's in 11-12..11-18
    spanning = await post(api, {"entries": [entry]})
    assert spanning.status_code == 422, spanning.text
    assert "span more than 100 transactions" in spanning.json()["error"]["message"]
    monkeypatch.setattr(reconciliations, "MAX_COVERED", 1000)
    assert (await post(api, {"entries": [entry]})).status_code == 201
