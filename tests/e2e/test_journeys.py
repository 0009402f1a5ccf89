"""What a user and the bank do to an Item, across every service: an edit that outlives Plaid's changes, a
login that breaks and is repaired in update mode, webhooks delivered twice, late or forged, and removal."""

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from .conftest import User, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(900)]

OVERRIDE = "TRAVEL_FLIGHTS"


def successors(user: User, item_id: str) -> dict[str, dict[str, Any]]:
    """Posted transactions of the Item by the pending transaction they replaced."""
    return {
        t["pending_transaction_id"]: t
        for t in user.transactions(item_id=item_id)
        if t["pending_transaction_id"]
    }


def edit_pending(user: User, item_id: str, done: set[str]) -> None:
    for txn in user.transactions(item_id=item_id, pending="true"):
        if txn["transaction_id"] in done:
            continue
        answer = user.http.patch(
            user.ledger(f"/v1/transactions/{txn['transaction_id']}"),
            json={"category": OVERRIDE},
            headers=user.auth,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["category"]["source"] == "user"
        done.add(txn["transaction_id"])


def test_a_category_override_survives_posting_and_a_later_modification(user: User) -> None:
    item_id = user.link_item(2_000)["item_id"]
    user.wait_converged([item_id])
    edited: set[str] = set()
    amounts: dict[str, float] = {}  # the posted successors' amounts when first seen
    modified: set[str] = set()
    for _ in range(12):  # each refresh posts every pending and changes one recently posted amount
        edit_pending(user, item_id, edited)
        user.control("POST", f"/items/{item_id}/refresh")
        user.wait_converged([item_id])
        for pending_id, posted in successors(user, item_id).items():
            if pending_id not in edited:
                continue
            assert posted["category"]["source"] == "user", posted
            assert posted["category"]["detailed"] == OVERRIDE, posted
            first = amounts.setdefault(posted["transaction_id"], posted["amount"])
            if posted["amount"] != first:
                modified.add(posted["transaction_id"])
        if modified:
            break
    assert edited and amounts, "no pending transaction was edited and posted"
    assert modified, "Plaid modified none of the edited transactions after they posted"


def test_login_required_shows_needs_repair_and_update_mode_brings_it_back(user: User) -> None:
    item_id = user.link_item(300)["item_id"]
    user.wait_converged([item_id])
    assert user.items()[item_id]["needs_repair"] is False

    user.control("POST", f"/items/{item_id}/error", {"error_code": "ITEM_LOGIN_REQUIRED"})
    broken = eventually(
        lambda: user.items()[item_id]["needs_repair"] and user.items()[item_id],
        timeout=60,
        what="needs repair in the ledger",
    )
    assert broken["status"] == "login_required"

    token = user.http.post(
        user.link(f"/v1/items/{item_id}/link-token"), json={"reason": "login_required"}, headers=user.auth
    )
    assert token.status_code == 201, token.text
    repaired = user.http.post(
        user.stack.url("plaid-emulator") + "/link/complete",
        json={"link_token": token.json()["link_token"], "username": "user_good", "password": "pass_good"},
    )
    assert repaired.status_code == 200, repaired.text
    done = user.http.post(
        user.link(f"/v1/items/{item_id}/update-completed"),
        json={"link_session_id": repaired.json()["metadata"]["link_session_id"]},
        headers=user.auth,
    )
    assert done.status_code == 200, done.text
    eventually(
        lambda: user.items()[item_id]["needs_repair"] is False, timeout=60, what="repaired in the ledger"
    )

    head = user.truth(item_id)["log_head"]
    user.control("POST", f"/items/{item_id}/refresh")  # the bank moves on: syncing must resume
    assert user.truth(item_id)["log_head"] > head
    user.wait_converged([item_id])
    assert user.items()[item_id]["status"] == "good"


def sync_runs_by_webhook(user: User, item_id: str) -> int:
    answer = user.http.get(
        user.stack.url("sync-worker") + f"/v1/items/{item_id}/sync-runs",
        params={"limit": 500},
        headers=user.auth,
    )
    assert answer.status_code == 200, answer.text
    return sum("webhook:SYNC_UPDATES_AVAILABLE" in run["triggers"] for run in answer.json()["runs"])


def deliver(user: User, body: bytes, verification: str) -> Any:
    return user.http.post(
        user.link("/v1/plaid/webhooks"),
        content=body,
        headers={"Content-Type": "application/json", "Plaid-Verification": verification},
    )


def test_webhooks_twice_late_or_forged_have_one_effect_or_none(user: User) -> None:
    item_id = user.link_item(300)["item_id"]
    user.wait_converged([item_id])

    # the emulator sends every webhook twice and each pair newest first
    user.control("POST", "/webhooks/mode", {"duplicate": True, "out_of_order": True})
    try:
        for _ in range(3):
            user.control("POST", f"/items/{item_id}/refresh")
        user.control("POST", "/webhooks/flush")
    finally:
        user.control("POST", "/webhooks/mode", {"duplicate": False, "out_of_order": False})
    user.wait_converged([item_id])

    body = (
        b'{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"'
        + item_id.encode()
        + b'","initial_update_complete":true,"historical_update_complete":true,"environment":"sandbox"}'
    )
    before = sync_runs_by_webhook(user, item_id)
    signed = user.control("POST", "/webhooks/sign", {"body": body.decode()})["plaid_verification"]
    first, again = deliver(user, body, signed), deliver(user, body, signed)
    assert (first.status_code, first.json()["status"]) == (200, "received")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    eventually(lambda: sync_runs_by_webhook(user, item_id) == before + 1, timeout=60, what="one sync run")

    # forged: signed by a key Plaid never had, and a genuine signature over another body
    header = jwt.get_unverified_header(signed)
    now = int(time.time())
    forged = jwt.encode(
        {"iat": now, "request_body_sha256": "0" * 64},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": header["kid"]},
    )
    assert deliver(user, body, forged).status_code == 401
    tampered = body.replace(b'"historical_update_complete":true', b'"historical_update_complete":false')
    assert tampered != body
    assert deliver(user, tampered, signed).status_code == 401

    later = user.control("POST", "/webhooks/sign", {"body": body.decode(), "iat": now + 1})[
        "plaid_verification"
    ]
    assert deliver(user, body, later).json()["status"] == "received"  # a genuine second delivery
    eventually(lambda: sync_runs_by_webhook(user, item_id) >= before + 2, timeout=60, what="the second run")
    assert sync_runs_by_webhook(user, item_id) == before + 2, "a forged webhook started a sync"


def test_removing_an_item(user: User) -> None:
    kept, gone = (user.link_item(150)["item_id"], user.link_item(120)["item_id"])
    user.wait_converged([kept, gone])
    history = {t["transaction_id"] for t in user.transactions(item_id=gone)}

    answer = user.http.delete(user.link(f"/v1/items/{gone}"), headers=user.auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "removed"
    eventually(lambda: gone not in user.items(), timeout=60, what="the Item gone from the ledger's list")
    removed = user.items(include_removed=True)[gone]
    assert removed["status"] == "removed" and removed["removed_at"], removed
    assert gone not in {i["item_id"] for i in user.control("GET", "/items")}, "still at Plaid"
    # the ledger keeps a removed Item's history, readable by id
    assert {t["transaction_id"] for t in user.transactions(item_id=gone)} == history
    user.wait_converged([kept])
