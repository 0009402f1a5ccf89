"""/transactions/sync as Plaid documents it: readiness, cursors, collapsing, mutation during pagination,
per-account streams, history length, large lazily generated Items, convergence with the ground truth."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from plaid_emulator.testing import running_emulator


def sync(emu: Any, access: str, cursor: str = "", count: int | None = None, **options: Any) -> Any:
    body: dict[str, Any] = {"access_token": access, "cursor": cursor}
    if count is not None:
        body["count"] = count
    if options:
        body["options"] = options
    return emu.plaid("/transactions/sync", body)


def drain(
    emu: Any, access: str, cursor: str, store: dict[str, dict[str, Any]], count: int = 100, **options: Any
) -> tuple[str, list[dict[str, Any]]]:
    start, pages = cursor, []
    while True:
        response = sync(emu, access, cursor, count, **options)
        body = response.json()
        if response.status_code != 200:
            assert body["error_code"] == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
            cursor, pages = start, []
            continue
        pages.append(body)
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    for page in pages:
        for txn in page["added"] + page["modified"]:
            store[txn["transaction_id"]] = txn
        for gone in page["removed"]:
            store.pop(gone["transaction_id"], None)
    return cursor, pages


def test_fresh_item_is_not_ready_then_initial_then_historical(receiver: Any) -> None:
    with running_emulator(
        not_ready_delay=600,
        historical_delay=600,
        realtime=False,
        start_time=datetime(2026, 6, 1, 12, tzinfo=UTC),  # 20 minutes on: still the same day (no daily life)
        tick_interval=0.05,
        webhook_time_scale=0.001,
    ) as emu:
        item = emu.create_item(webhook=receiver.url, days_requested=120)
        first = sync(emu, item["access_token"]).json()
        assert first["transactions_update_status"] == "NOT_READY"
        assert first["next_cursor"] == "" and first["added"] == [] and first["has_more"] is False
        emu.advance(seconds=600)
        _, hook, _ = receiver.wait_for("SYNC_UPDATES_AVAILABLE")
        assert (hook["initial_update_complete"], hook["historical_update_complete"]) == (True, False)
        store: dict[str, Any] = {}
        cursor, pages = drain(emu, item["access_token"], "", store)
        assert pages[-1]["transactions_update_status"] == "INITIAL_UPDATE_COMPLETE"
        oldest = min(t["date"] for t in store.values())
        assert oldest >= (date.fromisoformat(emu.advance()[:10]) - timedelta(days=32)).isoformat()
        emu.advance(seconds=600)
        _, hook, _ = receiver.wait_for("SYNC_UPDATES_AVAILABLE")
        assert (hook["initial_update_complete"], hook["historical_update_complete"]) == (True, True)
        cursor, pages = drain(emu, item["access_token"], cursor, store)
        assert pages[-1]["transactions_update_status"] == "HISTORICAL_UPDATE_COMPLETE"
        assert len(store) == 480 == len(emu.ground_truth(item["item_id"])["transactions"])


def test_cursor_count_and_shape(emu: Any) -> None:
    item = emu.create_item(ready=True)
    page = sync(emu, item["access_token"]).json()
    assert len(page["added"]) == 100 and page["has_more"]  # count defaults to 100
    cursor = page["next_cursor"]
    assert len(cursor) <= 256 and re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert len(sync(emu, item["access_token"], count=1).json()["added"]) == 1
    assert sync(emu, item["access_token"], count=0).json()["error_code"] == "INVALID_FIELD"
    other = emu.create_item(ready=True)
    assert sync(emu, other["access_token"], cursor).json()["error_code"] == "INVALID_FIELD"
    txn = page["added"][0]
    assert txn["original_description"] is None  # only when asked for
    assert len(txn["location"]) == 8 and len(txn["payment_meta"]) == 8
    assert (txn["iso_currency_code"] is None) != (txn["unofficial_currency_code"] is None)


def test_realistic_data(emu: Any) -> None:
    item = emu.create_item(ready=True, days_requested=730, transactions=3000)
    store: dict[str, Any] = {}
    drain(emu, item["access_token"], "", store, count=500, include_original_description=True)
    txns = list(store.values())
    assert min(t["date"] for t in txns) <= (date.today() - timedelta(days=700)).isoformat()
    assert any(re.fullmatch(r"STARBUCKS #\d{5} [A-Z ]+ [A-Z]{2}", t["original_description"]) for t in txns)
    assert any(t["amount"] < 0 and t["personal_finance_category"]["primary"] == "INCOME" for t in txns)
    assert any(t["authorized_date"] != t["date"] for t in txns if not t["pending"])
    assert {t["personal_finance_category"]["confidence_level"] for t in txns} >= {
        "VERY_HIGH",
        "HIGH",
        "MEDIUM",
    }
    assert any(t["pending"] for t in txns) and any(t["merchant_name"] is None for t in txns)
    assert len({t["account_id"] for t in txns}) == 3


def test_same_seed_same_data() -> None:
    def first_page() -> list[tuple[str, float, str]]:
        with running_emulator(not_ready_delay=0, historical_delay=0, seed=7) as emu:
            item = emu.create_item(ready=True)
            return [
                (t["transaction_id"], t["amount"], t["name"])
                for t in sync(emu, item["access_token"]).json()["added"]
            ]

    assert first_page() == first_page()


def test_forced_mutation_during_pagination_and_restart_converges(emu: Any) -> None:
    item = emu.create_item(ready=True)
    emu.control("POST", f"/items/{item['item_id']}/mutate", {"during_pagination": 1})
    first = sync(emu, item["access_token"], count=50).json()
    assert first["has_more"]
    broken = sync(emu, item["access_token"], first["next_cursor"], count=50)
    assert broken.status_code == 400
    assert broken.json()["error_code"] == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
    assert broken.json()["error_type"] == "TRANSACTIONS_ERROR"
    store: dict[str, Any] = {}
    drain(emu, item["access_token"], "", store, count=50)
    assert set(store) == {t["transaction_id"] for t in emu.ground_truth(item["item_id"])["transactions"]}


def test_time_passing_between_pages_is_a_mutation(emu: Any) -> None:
    item = emu.create_item(ready=True)
    first = sync(emu, item["access_token"], count=10).json()
    emu.advance(days=1)
    assert (
        sync(emu, item["access_token"], first["next_cursor"], count=10).json()["error_code"]
        == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
    )


def test_sync_converges_through_simulated_days(emu: Any) -> None:
    item = emu.create_item(ready=True)
    store: dict[str, Any] = {}
    cursor, _ = drain(emu, item["access_token"], "", store)
    seen_posting = False
    for _ in range(5):
        emu.advance(days=1)
        cursor, pages = drain(emu, item["access_token"], cursor, store, count=7)
        removed = {r["transaction_id"] for p in pages for r in p["removed"]}
        seen_posting |= any(t["pending_transaction_id"] in removed for p in pages for t in p["added"])
        truth = emu.ground_truth(item["item_id"])
        assert {k: (v["amount"], v["pending"]) for k, v in store.items()} == {
            t["transaction_id"]: (t["amount"], t["pending"]) for t in truth["transactions"]
        }
        balances = {a["account_id"]: a["balances"] for a in pages[-1]["accounts"]}
        assert balances == {
            a["account_id"]: {**a["balances"], "last_updated_datetime": None} for a in truth["accounts"]
        }
    assert seen_posting


def test_a_transaction_added_and_removed_between_syncs_never_shows(emu: Any) -> None:
    item = emu.create_item(ready=True)
    store: dict[str, Any] = {}
    cursor, _ = drain(emu, item["access_token"], "", store)
    emu.advance(days=1)  # new pending transactions appear...
    fresh = {
        t["transaction_id"]
        for t in emu.ground_truth(item["item_id"])["transactions"]
        if t["pending"] and t["transaction_id"] not in store
    }
    assert fresh
    emu.refresh(item["item_id"])  # ... and post before the client syncs again
    _, pages = drain(emu, item["access_token"], cursor, store)
    shown = {t["transaction_id"] for p in pages for t in p["added"] + p["modified"]}
    shown |= {r["transaction_id"] for p in pages for r in p["removed"]}
    assert not fresh & shown
    assert fresh <= {t["pending_transaction_id"] for p in pages for t in p["added"]}


def test_per_account_streams_partition_the_item(emu: Any) -> None:
    item = emu.create_item(ready=True)
    accounts = emu.plaid("/accounts/get", {"access_token": item["access_token"]}).json()["accounts"]
    union: dict[str, Any] = {}
    for account in accounts:
        part: dict[str, Any] = {}
        cursor, pages = drain(emu, item["access_token"], "", part, account_id=account["account_id"])
        assert all(t["account_id"] == account["account_id"] for t in part.values())
        assert [a["account_id"] for a in pages[0]["accounts"]] == [account["account_id"]]
        union.update(part)
        assert sync(emu, item["access_token"], cursor).json()["error_code"] == "INVALID_FIELD"
    assert len(union) == len(emu.ground_truth(item["item_id"])["transactions"])


@pytest.mark.parametrize("volume", [100_000])
def test_a_large_item_is_served_lazily(emu: Any, volume: int) -> None:
    item = emu.create_item(ready=True, transactions=volume)
    ids: set[str] = set()
    cursor = ""
    while True:
        page = sync(emu, item["access_token"], cursor, count=500).json()
        ids.update(t["transaction_id"] for t in page["added"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert len(ids) == volume


def test_refresh_answers_at_once_and_the_data_arrives_later_announced(receiver: Any) -> None:
    """As a client would: refresh, sync at once (nothing new yet), wait for SYNC_UPDATES_AVAILABLE, sync
    again (the refresh's changes). The webhook comes no sooner than the refresh delay."""
    import time

    with running_emulator(
        not_ready_delay=0, historical_delay=0, refresh_delay=0.6, tick_interval=0.05, webhook_time_scale=0.001
    ) as emu:
        item = emu.create_item(ready=True, webhook=receiver.url, transactions=300)
        access = item["access_token"]
        store: dict[str, dict[str, Any]] = {}
        cursor, _ = drain(emu, access, "", store)
        while not receiver.received.empty():  # the Item's readiness webhooks
            receiver.next()
        pending = {tid for tid, t in store.items() if t["pending"]}
        assert pending

        asked = time.monotonic()
        assert emu.plaid("/transactions/refresh", {"access_token": access}).status_code == 200
        right_after = sync(emu, access, cursor).json()
        assert (right_after["added"], right_after["modified"], right_after["removed"]) == ([], [], [])
        _, hook, _ = receiver.wait_for("SYNC_UPDATES_AVAILABLE")
        assert time.monotonic() - asked >= 0.6
        assert hook["item_id"] == item["item_id"] and hook["historical_update_complete"] is True
        cursor, pages = drain(emu, access, cursor, store)
        assert pending <= {r["transaction_id"] for p in pages for r in p["removed"]}  # every pending posted
        truth = emu.ground_truth(item["item_id"])["transactions"]
        assert {t["transaction_id"]: t["amount"] for t in truth} == {
            tid: t["amount"] for tid, t in store.items()
        }


def test_an_item_created_in_item_login_required_does_not_pull_until_repaired(receiver: Any) -> None:
    """Sandbox password error_ITEM_LOGIN_REQUIRED: the Item exists but is broken, so no initial pull runs
    (no INITIAL_UPDATE/HISTORICAL_UPDATE) until the user repairs it in update mode."""
    with running_emulator(
        not_ready_delay=0.2, historical_delay=0.2, tick_interval=0.05, webhook_time_scale=0.001
    ) as emu:
        public = emu.plaid(
            "/sandbox/public_token/create",
            {
                "institution_id": "ins_109508",
                "initial_products": ["transactions"],
                "options": {"webhook": receiver.url, "override_password": "error_ITEM_LOGIN_REQUIRED"},
            },
        ).json()["public_token"]
        exchanged = emu.plaid("/item/public_token/exchange", {"public_token": public}).json()
        access, item_id = exchanged["access_token"], exchanged["item_id"]
        assert sync(emu, access).json()["error_code"] == "ITEM_LOGIN_REQUIRED"
        emu.advance(seconds=5)  # well past both delays
        emu.control("POST", f"/items/{item_id}/webhook", {"webhook_code": "NEW_ACCOUNTS_AVAILABLE"})
        codes = []
        while "NEW_ACCOUNTS_AVAILABLE" not in codes:
            codes.append(json.loads(receiver.next()[1])["webhook_code"])
        assert codes == ["NEW_ACCOUNTS_AVAILABLE"]
        assert emu.ground_truth(item_id)["transactions_update_status"] == "NOT_READY"

        link_token = emu.plaid(
            "/link/token/create",
            {
                "client_name": "bankstream",
                "language": "en",
                "country_codes": ["US"],
                "user": {"client_user_id": "u"},
                "access_token": access,
            },
        ).json()["link_token"]
        done = emu.http.post(
            "/link/complete",
            json={
                "link_token": link_token,
                "institution_id": "ins_109508",
                "username": "user_good",
                "password": "pass_good",
            },
        )
        assert done.status_code == 200
        seen: set[str] = set()
        while not {"INITIAL_UPDATE", "HISTORICAL_UPDATE"} <= seen:  # in either order: one task each
            seen.add(json.loads(receiver.next()[1])["webhook_code"])
        store: dict[str, Any] = {}
        drain(emu, access, "", store)
        assert len(store) == len(emu.ground_truth(item_id)["transactions"]) > 0


def test_sync_days_requested_counts_only_for_an_item_not_initialised_with_transactions() -> None:
    """The spec: options.days_requested applies to an Item not yet initialised with Transactions; "if the
    Item has already been initialized with the Transactions product, this field will have no effect". The
    Item linked with 60 days is still NOT_READY at its first sync (which asks for 20)."""
    with running_emulator(not_ready_delay=0.3, historical_delay=0, tick_interval=0.05) as emu:

        def oldest_after_first_sync(access: str) -> date:
            store: dict[str, Any] = {}
            while (page := sync(emu, access, "", 500, days_requested=20).json())["next_cursor"] == "":
                assert page["transactions_update_status"] == "NOT_READY"  # a fresh pull: poll
            _, pages = drain(emu, access, "", store, count=500, days_requested=20)
            assert pages[-1]["transactions_update_status"] == "HISTORICAL_UPDATE_COMPLETE"
            return min(date.fromisoformat(t["date"]) for t in store.values())

        today = date.fromisoformat(emu.control("GET", "/clock")["now"][:10])
        link_token = emu.plaid(
            "/link/token/create",
            {
                "client_name": "bankstream",
                "language": "en",
                "country_codes": ["US"],
                "user": {"client_user_id": "u"},
                "products": ["transactions"],
                "transactions": {"days_requested": 60},
            },
        ).json()["link_token"]
        done = emu.http.post(
            "/link/complete",
            json={
                "link_token": link_token,
                "institution_id": "ins_109508",
                "username": "user_good",
                "password": "pass_good",
            },
        ).json()
        linked = emu.plaid("/item/public_token/exchange", {"public_token": done["public_token"]}).json()
        assert oldest_after_first_sync(linked["access_token"]) <= today - timedelta(days=50)  # Link's 60 days

        public = emu.plaid(
            "/sandbox/public_token/create", {"institution_id": "ins_109508", "initial_products": ["assets"]}
        ).json()["public_token"]
        without = emu.plaid("/item/public_token/exchange", {"public_token": public}).json()
        assert oldest_after_first_sync(without["access_token"]) >= today - timedelta(days=21)  # the sync's 20


def test_simulated_days_have_historys_density_and_each_is_announced(receiver: Any) -> None:
    """30 simulated days at once: as many transactions a day as the history has (20 here), and one
    DEFAULT_UPDATE and one SYNC_UPDATES_AVAILABLE per day, as 30 daily updates would send."""
    with running_emulator(
        not_ready_delay=0,
        historical_delay=0,
        realtime=False,
        start_time=datetime(2026, 6, 1, 12, tzinfo=UTC),
        tick_interval=0.05,
        webhook_time_scale=0.001,
    ) as emu:
        item = emu.create_item(ready=True, webhook=receiver.url, transactions=1800, days_requested=90)
        assert sync(emu, item["access_token"]).status_code == 200  # SYNC_UPDATES_AVAILABLE from now on
        emu.advance(days=30)
        truth = emu.ground_truth(item["item_id"])["transactions"]
        per_day = len([t for t in truth if t["date"] > "2026-06-01"]) / 30
        assert 17 <= per_day <= 23, per_day
        counts = {"DEFAULT_UPDATE": 0, "SYNC_UPDATES_AVAILABLE": 0}
        while min(counts.values()) < 30:
            code = json.loads(receiver.next()[1])["webhook_code"]
            if code in counts:
                counts[code] += 1
