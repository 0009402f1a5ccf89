"""The optional snapshot file: a restarted emulator keeps its Items, so the access tokens and cursors its
clients hold keep working and the data is the same (`make run` restarts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plaid_emulator.testing import running_emulator

from .test_sync_semantics import drain, sync

CONFIG: dict[str, Any] = {
    "not_ready_delay": 0,
    "historical_delay": 0,
    "refresh_delay": 0,
    "tick_interval": 0.05,
}


def test_a_restart_with_a_snapshot_keeps_items_tokens_cursors_and_data(tmp_path: Path) -> None:
    path = tmp_path / "emulator.json"
    with running_emulator(snapshot=str(path), **CONFIG) as emu:
        item = emu.create_item(ready=True, transactions=700)
        access, item_id = item["access_token"], item["item_id"]
        store: dict[str, dict[str, Any]] = {}
        cursor, _ = drain(emu, access, "", store)
        emu.advance(days=2)  # life appends changes to the log
        emu.refresh(item_id)
        emu.plaid(
            "/sandbox/item/fire_webhook", {"access_token": access, "webhook_code": "NEW_ACCOUNTS_AVAILABLE"}
        )
        broken = emu.create_item(ready=True, transactions=50)
        emu.set_item_error(broken["item_id"], "ITEM_LOGIN_REQUIRED")
        not_ready = emu.create_item(transactions=50)
        before = emu.ground_truth(item_id)
        accounts_before = emu.plaid("/accounts/get", {"access_token": access}).json()["accounts"]
    assert path.exists()

    with running_emulator(snapshot=str(path), **CONFIG) as emu:
        after = emu.ground_truth(item_id)
        assert after["now"] >= before["now"]  # the simulated clock (advanced two days) does not go back
        assert after["transactions"] == before["transactions"] and after["log_head"] == before["log_head"]
        accounts = emu.plaid("/accounts/get", {"access_token": access}).json()["accounts"]
        assert [a["account_id"] for a in accounts] == [a["account_id"] for a in accounts_before]
        assert [a["balances"] for a in accounts] == [a["balances"] for a in accounts_before]
        cursor, pages = drain(emu, access, cursor, store)  # the cursor held before the restart
        assert any(p["added"] or p["removed"] for p in pages)
        assert {t: v["amount"] for t, v in store.items()} == {
            t["transaction_id"]: t["amount"] for t in after["transactions"]
        }
        assert sync(emu, broken["access_token"]).json()["error_code"] == "ITEM_LOGIN_REQUIRED"
        assert sync(emu, not_ready["access_token"]).status_code == 200
        fresh = emu.create_item(ready=True, transactions=10)
        assert fresh["item_id"] not in {item_id, broken["item_id"], not_ready["item_id"]}
        assert len(emu.control("GET", "/items")) == 4

    with running_emulator(**CONFIG) as emu:  # without a snapshot: memory only, as before
        assert emu.plaid("/item/get", {"access_token": access}).json()["error_code"] == "INVALID_ACCESS_TOKEN"
