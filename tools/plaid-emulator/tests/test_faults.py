"""Scriptable faults and Plaid's rate limits, through the control API."""

from __future__ import annotations

import time
from typing import Any

from plaid_emulator.testing import running_emulator


def sync_code(emu: Any, access: str) -> str | None:
    response = emu.plaid("/transactions/sync", {"access_token": access})
    return None if response.status_code == 200 else str(response.json()["error_code"])


def test_rate_limits_per_item_and_per_client() -> None:
    with running_emulator(not_ready_delay=0, historical_delay=0, rate_limits=True) as emu:
        a, b = emu.create_item(ready=True), emu.create_item(ready=True)
        emu.control("POST", "/rate_limits", {"limits": {"/transactions/sync": [3, 5]}})
        assert [sync_code(emu, a["access_token"]) for _ in range(4)] == [
            None,
            None,
            None,
            "TRANSACTIONS_SYNC_LIMIT",
        ]
        # the client's 5 per minute (refused calls do not count)
        assert [sync_code(emu, b["access_token"]) for _ in range(3)] == [
            None,
            None,
            "TRANSACTIONS_SYNC_LIMIT",
        ]
        response = emu.plaid("/transactions/sync", {"access_token": b["access_token"]})
        assert (response.status_code, response.json()["error_type"]) == (429, "RATE_LIMIT_EXCEEDED")
        emu.control("POST", "/rate_limits", {"reset": True})
        assert sync_code(emu, a["access_token"]) is None
        refresh = [
            emu.plaid("/transactions/refresh", {"access_token": a["access_token"]}).status_code
            for _ in range(3)
        ]
        assert refresh == [200, 200, 429]  # Plaid's 2 per Item per minute


def test_the_rate_limit_window_is_sliding_and_can_be_shortened() -> None:
    with running_emulator(not_ready_delay=0, historical_delay=0, rate_limits=True) as emu:
        a = emu.create_item(ready=True)
        state = emu.control(
            "POST", "/rate_limits", {"limits": {"/transactions/sync": [2, 100]}, "window_seconds": 0.5}
        )
        assert state["window_seconds"] == 0.5
        assert [sync_code(emu, a["access_token"]) for _ in range(3)] == [
            None,
            None,
            "TRANSACTIONS_SYNC_LIMIT",
        ]
        time.sleep(0.6)  # both calls left the window
        assert [sync_code(emu, a["access_token"]) for _ in range(3)] == [
            None,
            None,
            "TRANSACTIONS_SYNC_LIMIT",
        ]
        bad = emu.http.post("/emulator/rate_limits", json={"window_seconds": 0})
        assert bad.status_code == 400 and "window_seconds" in bad.json()["detail"]


def test_fault_rules_count_scope_and_clearing(emu: Any) -> None:
    a, b = emu.create_item(ready=True), emu.create_item(ready=True)
    emu.set_fault(error_code="INSTITUTION_DOWN", endpoint="/transactions/sync", item_id=a["item_id"], count=2)
    assert sync_code(emu, b["access_token"]) is None
    assert [sync_code(emu, a["access_token"]) for _ in range(3)] == [
        "INSTITUTION_DOWN",
        "INSTITUTION_DOWN",
        None,
    ]
    emu.set_fault(error_code="INTERNAL_SERVER_ERROR", count=None, probability=0.0)
    assert sync_code(emu, a["access_token"]) is None
    emu.set_fault(latency_ms=50, endpoint="/accounts/get", count=None)
    assert emu.plaid("/accounts/get", {"access_token": a["access_token"]}).status_code == 200
    latency_rule = emu.control("GET", "/faults")[-1]
    assert latency_rule["fired"] == 1
    emu.set_fault(error_code="ITEM_LOGIN_REQUIRED", count=None)
    assert (
        emu.plaid("/item/get", {"access_token": a["access_token"]}).json()["error_code"]
        == "ITEM_LOGIN_REQUIRED"
    )
    emu.clear_faults()
    assert emu.plaid("/item/get", {"access_token": a["access_token"]}).status_code == 200


def test_item_error_state_and_repair(emu: Any, receiver: Any) -> None:
    item = emu.create_item(ready=True, webhook=receiver.url)
    emu.set_item_error(item["item_id"], "ITEM_LOGIN_REQUIRED")
    assert receiver.wait_for("ERROR")[1]["error"]["error_code"] == "ITEM_LOGIN_REQUIRED"
    assert sync_code(emu, item["access_token"]) == "ITEM_LOGIN_REQUIRED"
    got = emu.plaid("/item/get", {"access_token": item["access_token"]}).json()
    assert got["item"]["error"]["error_code"] == "ITEM_LOGIN_REQUIRED"
    emu.set_item_error(item["item_id"], None)
    receiver.wait_for("LOGIN_REPAIRED")
    assert sync_code(emu, item["access_token"]) is None


def test_sandbox_error_password_creates_an_item_needing_login(emu: Any) -> None:
    token = emu.plaid(
        "/sandbox/public_token/create",
        {
            "institution_id": "ins_109511",
            "initial_products": ["transactions"],
            "options": {"override_username": "user_good", "override_password": "error_ITEM_LOGIN_REQUIRED"},
        },
    ).json()
    access = emu.plaid("/item/public_token/exchange", {"public_token": token["public_token"]}).json()[
        "access_token"
    ]
    assert sync_code(emu, access) == "ITEM_LOGIN_REQUIRED"
