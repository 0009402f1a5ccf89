"""Several Items with 10,000 transactions between them, linked through link-svc, then days of life at the
bank (pending that post, modifications, removals, a new account): the ledger's `GET /v1/transactions` equals
the emulator's ground truth, field by field, and every transaction is categorized."""

import pytest

from .conftest import User, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(900)]

SIZES = (4_000, 3_000, 2_000, 1_000)  # 10,000 between them


def test_the_ledger_converges_to_the_truth_through_days_of_life(user: User) -> None:
    items = [user.link_item(n) for n in SIZES]
    ids = [i["item_id"] for i in items]
    user.wait_converged(ids)
    assert sum(len(user.transactions(item_id=i)) for i in ids) >= sum(SIZES)

    # a new account at the bank, shared through link-svc's update mode with account selection
    first = ids[0]
    user.control("POST", f"/items/{first}/webhook", {"webhook_code": "NEW_ACCOUNTS_AVAILABLE"})
    token = user.http.post(
        user.link(f"/v1/items/{first}/link-token"), json={"reason": "new_accounts"}, headers=user.auth
    )
    assert token.status_code == 201, token.text
    shared = user.http.post(
        user.stack.url("plaid-emulator") + "/link/complete",
        json={"link_token": token.json()["link_token"], "username": "user_good", "password": "pass_good"},
    )
    assert shared.status_code == 200, shared.text
    done = user.http.post(
        user.link(f"/v1/items/{first}/update-completed"),
        json={"link_session_id": shared.json()["metadata"]["link_session_id"]},
        headers=user.auth,
    )
    assert done.status_code in (200, 202), done.text
    truth_accounts = {a["account_id"] for a in user.truth(first)["accounts"]}
    eventually(
        lambda: {a["account_id"] for a in user.items()[first]["accounts"]} == truth_accounts,
        timeout=60,
        what="the new account in the ledger",
    )

    before = {i: user.truth(i)["log_head"] for i in ids}
    for _ in range(3):  # three days: pending post (some with a tip), amounts change, pending vanish
        user.control("POST", "/clock/advance", {"days": 1})
    after = {i: user.truth(i)["log_head"] for i in ids}
    assert all(after[i] > before[i] for i in ids), "the days changed nothing at the bank"
    user.wait_converged(ids)

    removed = user.transactions(item_id=first, include_removed="true")
    assert any(t["removed"] for t in removed), "no removal reached the ledger"
    posted = [t for t in user.transactions(item_id=first) if t["pending_transaction_id"]]
    assert posted, "no pending transaction posted"
