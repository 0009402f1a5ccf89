"""Items, accounts, balances and sync runs into the ledger, through bootstrap() on the real broker and
database: status and needs_repair, guards against older events, balance history per day."""

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from ledger_api.domain import consumed as ev

from .projection_harness import (
    BASE,
    Ledger,
    account_updated,
    item_linked,
    item_removed,
    running_ledger,
    status_changed,
    sync_completed,
    sync_failed,
)

pytestmark = pytest.mark.integration
H = dt.timedelta(hours=1)


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
async def ledger(database_url: str, kafka_bootstrap_servers: str) -> AsyncIterator[Ledger]:
    async with running_ledger(database_url, kafka_bootstrap_servers) as running:
        yield running


async def _item(ledger: Ledger, item_id: str) -> dict:
    return dict(await ledger.pool.fetchrow("SELECT * FROM items WHERE item_id = $1", item_id))


async def test_item_status_drives_needs_repair_and_an_older_change_is_ignored(
    ledger: Ledger, uid: str
) -> None:
    item, user = f"item-{uid}", f"user-{uid}"
    events = [
        item_linked(item, user, [f"acct-{uid}"], at=BASE),
        status_changed(item, user, "pending_expiration", BASE + 1 * H, "PENDING_EXPIRATION"),
        status_changed(item, user, "login_required", BASE + 3 * H, "ITEM_LOGIN_REQUIRED"),
        status_changed(item, user, "good", BASE + 2 * H, "LOGIN_REPAIRED"),  # older than the one before
    ]
    await ledger.send(ev.TOPIC_ITEMS, item, *events[:2])
    await ledger.processed(*events[:2])
    row = await _item(ledger, item)
    assert (row["status"], row["needs_repair"], row["user_id"]) == ("pending_expiration", True, user)
    assert row["institution_name"] == "First Platypus Bank"

    await ledger.send(ev.TOPIC_ITEMS, item, *events[2:])
    await ledger.processed(*events[2:])
    row = await _item(ledger, item)
    assert (row["status"], row["needs_repair"], row["status_code"]) == (
        "login_required",
        True,
        "ITEM_LOGIN_REQUIRED",
    )
    ops = [c["op"] for c in await ledger.changes(item)]
    assert ops == ["linked", "status", "status"]  # the stale one recorded nothing


async def test_a_removed_item_stays_removed(ledger: Ledger, uid: str) -> None:
    item, user = f"item-{uid}", f"user-{uid}"
    events = [
        item_linked(item, user, [], at=BASE),
        item_removed(item, user, BASE + H),
        status_changed(item, user, "good", BASE + 2 * H),
    ]
    await ledger.send(ev.TOPIC_ITEMS, item, *events)
    await ledger.processed(*events)
    row = await _item(ledger, item)
    assert (row["status"], row["needs_repair"]) == ("removed", False)
    assert row["removed_at"] == BASE + H
    assert (await ledger.changes(item))[-1]["data"]["removed"] is True


async def test_sync_runs_record_the_last_success_and_the_last_failure_with_its_code(
    ledger: Ledger, uid: str
) -> None:
    item = f"item-{uid}"
    events = [
        sync_completed(item, BASE + 2 * H),
        sync_failed(item, BASE + 3 * H, "ITEM_LOGIN_REQUIRED"),
        sync_completed(item, BASE + H),  # older: ignored
        sync_failed(item, BASE + H, "INSTITUTION_DOWN"),  # older: ignored
    ]
    await ledger.send(ev.TOPIC_SYNC_RUNS, item, *events)
    await ledger.processed(*events)
    row = await _item(ledger, item)
    assert row["last_synced_at"] == BASE + 2 * H
    assert (row["last_sync_failed_at"], row["last_sync_error_code"]) == (BASE + 3 * H, "ITEM_LOGIN_REQUIRED")
    assert row["user_id"] is None and row["status"] == "unknown"  # the Item itself is not known yet


async def test_balances_keep_the_latest_as_of_and_one_history_point_per_day(ledger: Ledger, uid: str) -> None:
    item, acct, user = f"item-{uid}", f"acct-{uid}", f"user-{uid}"
    day1, day2 = BASE, BASE + 24 * H
    events = [
        account_updated(item, acct, 100.0, day1),
        account_updated(item, acct, 120.5, day1 + 5 * H),
        account_updated(item, acct, 90.25, day2),
        account_updated(item, acct, 110.0, day1 + 2 * H),  # late: older than both of day 1's
    ]
    await ledger.send(ev.TOPIC_ACCOUNTS, acct, *events)
    await ledger.processed(*events)
    row = await ledger.pool.fetchrow("SELECT * FROM accounts WHERE account_id = $1", acct)
    assert (float(row["balance_current"]), row["balance_as_of"]) == (90.25, day2)
    assert float(row["balance_available"]) == 80.25 and row["name"] == "Plaid Checking"
    assert row["user_id"] is None  # AccountUpdated before ItemLinked
    history = await ledger.pool.fetch(
        "SELECT day, balance_current, as_of FROM balance_history WHERE account_id = $1 ORDER BY day", acct
    )
    assert [(h["day"], float(h["balance_current"])) for h in history] == [
        (day1.date(), 120.5),
        (day2.date(), 90.25),
    ]

    linked = item_linked(item, user, [acct], at=BASE)
    await ledger.send(ev.TOPIC_ITEMS, item, linked)
    await ledger.processed(linked)
    row = await ledger.pool.fetchrow("SELECT * FROM accounts WHERE account_id = $1", acct)
    assert row["user_id"] == user
    assert row["name"] == "Plaid Checking"  # ItemLinked fills gaps only: the AccountUpdated name stays
    assert float(row["balance_current"]) == 90.25
    owners = await ledger.pool.fetch("SELECT DISTINCT user_id FROM changes WHERE item_id = $1", item)
    assert [o["user_id"] for o in owners] == [user]
    balance = [c["data"] for c in await ledger.changes(acct) if c["op"] == "balance"]
    assert [b["balances"]["current"] for b in balance] == [100.0, 120.5, 90.25]
