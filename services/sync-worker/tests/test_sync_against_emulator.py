"""sync-worker end to end in one process: its own bootstrap(), the real Kafka and PostgreSQL, Plaid over
HTTP to the emulator. What a subscriber of bankstream.transactions ends up with must equal the emulator's
ground truth, whatever happened on the way."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from bankstream_common.envelope import Envelope
from bankstream_common.testing.waiting import wait_until
from plaid_emulator.testing import RunningEmulator, running_emulator
from sync_worker.config import Settings

from .harness import EmulatorTokens, Worker, running_worker, settings_for
from .stream import DistinctEvents, apply, decode, differences, per_account_in_order

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator(not_ready_delay=0, historical_delay=0) as emu:
        yield emu


@pytest.fixture
async def worker(
    database_url: str, kafka_bootstrap_servers: str, emulator: RunningEmulator, uid: str
) -> AsyncIterator[Worker]:
    async with running_worker(_settings(database_url, kafka_bootstrap_servers, emulator, uid)) as w:
        yield w


def _settings(database_url: str, kafka: str, emu: RunningEmulator, uid: str, **extra: Any) -> Settings:
    """A worker's settings against `emu`, with its own schema, topics and group."""
    return settings_for(
        database_url=database_url,
        kafka=kafka,
        emulator_url=emu.url,
        client_id=emu.client_id,
        secret=emu.secret,
        uid=uid,
        **extra,
    )


async def published(worker: Worker, reader, item_id: str, *, changes: int) -> list[Envelope]:
    """Every transaction event of the run so far (waits until at least `changes` distinct ones arrived)."""
    topic = worker.topic("bankstream.transactions")
    records = await reader(topic, until=DistinctEvents(changes))
    return [e for e in decode(records) if e.data["item_id"] == item_id]


async def assert_converged(worker: Worker, reader, emulator: RunningEmulator, item_id: str) -> list[Envelope]:
    last = (await worker.item(item_id))["last_sequence"]
    events = await published(worker, reader, item_id, changes=last)
    state, sequences = apply(events, item_id)
    assert sequences == list(range(1, last + 1)), "sync_sequence must be 1..N without gaps or repeats"
    assert per_account_in_order(events)
    problems = differences(state, emulator.ground_truth(item_id))
    assert not problems, problems[:10]
    return events


async def test_initial_backfill_equals_ground_truth_and_reports_the_run(
    worker: Worker, emulator: RunningEmulator, reader
) -> None:
    item = emulator.create_item(transactions=2600, ready=True)
    await worker.link(item["item_id"], item["access_token"])
    (run,) = await worker.wait_runs(item["item_id"], 1)
    assert (run["outcome"], run["added"], run["pages"], list(run["triggers"])) == (
        "completed",
        2600,
        6,
        ["item_linked"],
    )
    events = await assert_converged(worker, reader, emulator, item["item_id"])
    assert {e.data["change"] for e in events} == {"added"}
    sample = next(e.data for e in events if e.data["personal_finance_category"])
    assert sample["personal_finance_category"]["version"] == "v2"
    assert sample["original_description"]

    runs = await reader(worker.topic("bankstream.sync-runs"), until=lambda rs: len(rs) >= 1)
    (completed,) = decode(runs)
    assert completed.type == "bankstream.sync.completed.v1"
    assert completed.data["added"] == 2600 and completed.data["pages"] == 6
    assert completed.data["trigger"] == "item_linked"
    accounts = decode(await reader(worker.topic("bankstream.accounts"), until=lambda rs: len(rs) >= 1))
    truth_accounts = {a["account_id"]: a for a in emulator.ground_truth(item["item_id"])["accounts"]}
    assert {a.data["account_id"] for a in accounts} == truth_accounts.keys()
    for a in accounts:
        assert a.data["balances"]["current"] == truth_accounts[a.data["account_id"]]["balances"]["current"]
        assert a.data["as_of"]


async def test_incremental_updates_pending_to_posted_modifications_and_removals(
    worker: Worker, emulator: RunningEmulator, reader
) -> None:
    item = emulator.create_item(transactions=300, ready=True)
    item_id = item["item_id"]
    await worker.link(item_id, item["access_token"])
    await worker.wait_runs(item_id, 1)
    for day in range(1, 4):
        emulator.advance(days=1)  # new pending transactions, some posted, some amounts changed
        await worker.request_sync(item_id)
        await worker.wait_runs(item_id, 3 * day - 1)
        head = emulator.ground_truth(item_id)["log_head"]
        await worker.request_sync(item_id, refresh=True)  # /transactions/refresh: every pending posts...
        await worker.wait_runs(item_id, 3 * day)
        # ...later, as with Plaid: the refresh answers at once and its data lands afterwards, announced by
        # SYNC_UPDATES_AVAILABLE (link-svc forwards it; here the test polls Plaid's side, then forwards it)
        for _ in range(100):
            if emulator.ground_truth(item_id)["log_head"] > head:
                break
            await asyncio.sleep(0.05)
        await worker.publish(
            "bankstream.plaid-webhooks",
            "bankstream.plaid.webhook_received.v1",
            {
                "item_id": item_id,
                "webhook_type": "TRANSACTIONS",
                "webhook_code": "SYNC_UPDATES_AVAILABLE",
                "initial_update_complete": True,
                "historical_update_complete": True,
                "environment": "sandbox",
            },
        )
        await worker.wait_runs(item_id, 3 * day + 1)
    events = await assert_converged(worker, reader, emulator, item_id)
    assert worker.container.metrics.plaid_requests.labels("refresh", "ok")._value.get() == 3
    changes = {e.data["change"] for e in events}
    assert changes == {"added", "modified", "removed"}, changes
    seen_pending = {
        e.data["transaction_id"] for e in events if e.data["change"] == "added" and e.data["pending"]
    }
    removed = {e.data["transaction_id"] for e in events if e.data["change"] == "removed"}
    posted = [
        e.data
        for e in events
        if e.data["change"] == "added" and e.data["pending_transaction_id"] in seen_pending
    ]
    assert posted, "no pending transaction a consumer saw was posted"
    bad = [
        (p["transaction_id"], p["pending_transaction_id"], p["pending"])
        for p in posted
        if p["pending_transaction_id"] not in removed or p["pending"] is not False
    ]
    assert not bad, (bad, len(posted))


async def test_mutation_during_pagination_restarts_from_the_start_cursor(
    worker: Worker, emulator: RunningEmulator, reader
) -> None:
    item = emulator.create_item(transactions=2200, ready=True)
    emulator.control("POST", f"/items/{item['item_id']}/mutate", {"during_pagination": 2})
    await worker.link(item["item_id"], item["access_token"])
    (run,) = await worker.wait_runs(item["item_id"], 1)
    assert run["outcome"] == "completed"
    assert run["restarts"] == 2
    await assert_converged(worker, reader, emulator, item["item_id"])


async def test_a_run_whose_restarts_ran_out_is_retried_with_backoff_and_counted(
    worker: Worker, emulator: RunningEmulator, reader
) -> None:
    """Under changes that keep coming, a run's pagination restarts run out (3 in these tests): the run
    fails, counted, and is retried after the run backoff instead of waiting for the next trigger."""
    item = emulator.create_item(transactions=1200, ready=True)
    item_id = item["item_id"]
    emulator.control("POST", f"/items/{item_id}/mutate", {"during_pagination": 4})  # all 4 passes of run 1
    await worker.link(item_id, item["access_token"])
    runs = await worker.wait_runs(item_id, 2, timeout=30)
    assert [(r["outcome"], r["error_code"]) for r in runs] == [
        ("failed", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"),
        ("completed", None),
    ]
    assert runs[1]["restarts"] == 4  # the loop's: 3 in the failed run, 1 in the one that completed it
    metrics = worker.container.metrics
    assert metrics.restarts_exhausted.labels("retry")._value.get() == 1
    assert metrics.retries.labels("mutation_restart")._value.get() == 4
    await assert_converged(worker, reader, emulator, item_id)


async def test_rate_limits_and_outages_are_retried_with_backoff_and_counted(
    worker: Worker, emulator: RunningEmulator, reader
) -> None:
    item = emulator.create_item(transactions=1800, ready=True)
    item_id = item["item_id"]
    for code in ("TRANSACTIONS_SYNC_LIMIT", "INSTITUTION_DOWN", "INTERNAL_SERVER_ERROR"):
        emulator.set_fault(error_code=code, endpoint="/transactions/sync", item_id=item_id, count=1)
    await worker.link(item_id, item["access_token"])
    (run,) = await worker.wait_runs(item_id, 1)
    assert run["outcome"] == "completed"
    await assert_converged(worker, reader, emulator, item_id)
    retries = worker.container.metrics.retries
    assert retries.labels("rate_limited")._value.get() == 1
    assert retries.labels("unavailable")._value.get() == 2
    # the 429 held the Item's next call for (most of) a pacing window: 2 s in these tests
    assert worker.container.metrics.pacing_seconds._value.get() > 1.0
    requests = worker.container.metrics.plaid_requests
    assert requests.labels("sync", "TRANSACTIONS_SYNC_LIMIT")._value.get() == 1
    assert requests.labels("sync", "INSTITUTION_DOWN")._value.get() == 1


async def test_a_large_backfill_is_paced_within_the_items_rate_limit_and_meets_no_429(
    database_url: str, kafka_bootstrap_servers: str, emulator: RunningEmulator, uid: str, reader
) -> None:
    """Plaid's per-Item limit on /transactions/sync (50 a minute; here 4 in 1.5 s on both sides, so the
    run must wait out the window twice): the worker waits for its slots instead of meeting 429s."""
    limits = {"/transactions/sync": [4, 1000]}
    emulator.control(
        "POST", "/rate_limits", {"enabled": True, "reset": True, "window_seconds": 1.5, "limits": limits}
    )
    settings = _settings(
        database_url,
        kafka_bootstrap_servers,
        emulator,
        uid,
        plaid_sync_calls_per_window=4,
        plaid_sync_window_seconds=1.5,
    )
    try:
        async with running_worker(settings) as worker:
            item = emulator.create_item(transactions=5000, ready=True)
            await worker.link(item["item_id"], item["access_token"])
            (run,) = await worker.wait_runs(item["item_id"], 1)
            assert run["outcome"] == "completed" and run["pages"] >= 10, dict(run)
            await assert_converged(worker, reader, emulator, item["item_id"])
            metrics = worker.container.metrics
            assert metrics.plaid_requests.labels("sync", "TRANSACTIONS_SYNC_LIMIT")._value.get() == 0
            assert metrics.retries.labels("rate_limited")._value.get() == 0
            assert metrics.pacing_seconds._value.get() > 1.5  # it did wait, for at least a window
    finally:
        emulator.control(
            "POST",
            "/rate_limits",
            {
                "enabled": False,
                "reset": True,
                "window_seconds": 60,
                "limits": {"/transactions/sync": [50, 2500]},
            },
        )


async def test_a_worker_restarted_mid_window_respects_the_calls_made_before_and_meets_no_429(
    database_url: str, kafka_bootstrap_servers: str, emulator: RunningEmulator, uid: str, reader
) -> None:
    """The pacing window lives in PostgreSQL: when the worker syncing an Item stops in the middle of a
    window, the one that takes the Item over (it has no memory of those calls, as a restarted process)
    waits for the calls already made, so Plaid's per-Item limit (4 calls in 30 s here, on both sides)
    never answers 429."""
    limits = {"/transactions/sync": [4, 1000]}
    emulator.control(
        "POST", "/rate_limits", {"enabled": True, "reset": True, "window_seconds": 30, "limits": limits}
    )
    settings = _settings(
        database_url,
        kafka_bootstrap_servers,
        emulator,
        uid,
        plaid_sync_calls_per_window=4,
        plaid_sync_window_seconds=30,
    )
    item = emulator.create_item(transactions=3000, ready=True)  # 6 pages: 4 in the first window
    item_id, token = item["item_id"], item["access_token"]
    tokens = EmulatorTokens({item_id: token})
    one, two = running_worker(settings, tokens=tokens), running_worker(settings, tokens=tokens)
    workers = await asyncio.gather(one.__aenter__(), two.__aenter__())  # both up: no start-up in the way
    running = {0: one, 1: two}
    try:
        await workers[0].link(item_id, token)

        async def window_used() -> asyncpg.Record | None:
            state = await workers[0].item(item_id)
            return state if state is not None and state["loop_pages"] >= 3 else None

        state = await wait_until(window_used, timeout=30)
        # the worker that holds the Item stops mid-window; the other takes it over at once
        holder = 0 if state["lease_holder"].startswith(workers[0].container.repo.worker) else 1
        await running.pop(holder).__aexit__(None, None, None)
        other = workers[1 - holder]
        runs = await other.wait_runs(item_id, 1, timeout=90)
        assert [r["outcome"] for r in runs] == ["completed"]
        for worker in workers:
            metrics = worker.container.metrics
            assert metrics.plaid_requests.labels("sync", "TRANSACTIONS_SYNC_LIMIT")._value.get() == 0
            assert metrics.retries.labels("rate_limited")._value.get() == 0
        assert other.container.metrics.pacing_seconds._value.get() > 5.0  # it waited for the window
        await assert_converged(other, reader, emulator, item_id)
    finally:
        for cm in running.values():
            await cm.__aexit__(None, None, None)
        emulator.control(
            "POST",
            "/rate_limits",
            {
                "enabled": False,
                "reset": True,
                "window_seconds": 60,
                "limits": {"/transactions/sync": [50, 2500]},
            },
        )


async def test_nothing_retries_forever(worker: Worker, emulator: RunningEmulator, reader) -> None:
    item = emulator.create_item(transactions=100, ready=True)
    item_id = item["item_id"]
    emulator.set_fault(
        error_code="INSTITUTION_DOWN", endpoint="/transactions/sync", item_id=item_id, count=None
    )
    try:
        await worker.link(item_id, item["access_token"])
        runs = await worker.wait_runs(item_id, 3, outcome="failed")
        state = await worker.item(item_id)
        assert state["wanted_at"] is None, "after its last attempt the Item waits for the next trigger"
        assert [r["error_code"] for r in runs] == ["INSTITUTION_DOWN"] * 3
        failed = [
            e
            for e in decode(await reader(worker.topic("bankstream.sync-runs"), until=lambda rs: len(rs) >= 3))
        ]
        assert [e.data["retryable"] for e in failed] == [True, True, False]
    finally:
        emulator.clear_faults()


async def test_login_required_stops_then_repair_resumes(
    worker: Worker, emulator: RunningEmulator, reader
) -> None:
    item = emulator.create_item(transactions=400, ready=True)
    item_id = item["item_id"]
    await worker.link(item_id, item["access_token"])
    await worker.wait_runs(item_id, 1)

    emulator.set_item_error(item_id, "ITEM_LOGIN_REQUIRED")
    emulator.advance(days=2)
    await worker.request_sync(item_id)
    runs = await worker.wait_runs(item_id, 2)
    assert (runs[1]["outcome"], runs[1]["error_code"]) == ("failed", "ITEM_LOGIN_REQUIRED")
    assert (await worker.item(item_id))["status"] == "needs_attention"
    failed = [
        e
        for e in decode(await reader(worker.topic("bankstream.sync-runs"), until=lambda rs: len(rs) >= 2))
        if e.type == "bankstream.sync.failed.v1"
    ]
    assert failed[0].data["error_code"] == "ITEM_LOGIN_REQUIRED" and failed[0].data["needs_attention"]

    await worker.request_sync(item_id)  # a paused Item is not synced, whatever asks
    emulator.set_item_error(item_id, None)
    await worker.publish(
        "bankstream.plaid-webhooks",
        "bankstream.plaid.webhook_received.v1",
        {
            "item_id": item_id,
            "webhook_type": "ITEM",
            "webhook_code": "LOGIN_REPAIRED",
            "environment": "sandbox",
        },
    )
    runs = await worker.wait_runs(item_id, 3)
    assert len(runs) == 3 and runs[2]["outcome"] == "completed"
    assert "login_repaired" in runs[2]["triggers"]
    assert (await worker.item(item_id))["status"] == "active"
    await assert_converged(worker, reader, emulator, item_id)


async def test_duplicate_and_out_of_order_webhooks_collapse_and_change_nothing(
    worker: Worker, emulator: RunningEmulator, reader
) -> None:
    item = emulator.create_item(transactions=500, ready=True)
    item_id = item["item_id"]
    await worker.link(item_id, item["access_token"])
    await worker.wait_runs(item_id, 1)
    emulator.advance(days=1)
    hook = {"item_id": item_id, "webhook_type": "TRANSACTIONS", "environment": "sandbox"}
    first = await worker.publish(
        "bankstream.plaid-webhooks",
        "bankstream.plaid.webhook_received.v1",
        {
            **hook,
            "webhook_code": "SYNC_UPDATES_AVAILABLE",
            "initial_update_complete": True,
            "historical_update_complete": True,
        },
    )
    for _ in range(3):  # the same delivery again, then late legacy webhooks, then a re-sent one
        await worker.publish("bankstream.plaid-webhooks", first.type, first.data, event=first)
    for code in ("DEFAULT_UPDATE", "TRANSACTIONS_REMOVED", "SYNC_UPDATES_AVAILABLE", "DEFAULT_UPDATE"):
        await worker.publish("bankstream.plaid-webhooks", first.type, {**hook, "webhook_code": code})
    # 5 distinct webhook events; the 3 redeliveries of the first are absorbed by the inbox
    for _ in range(200):
        consumed = await worker.pool.fetchval("SELECT count(*) FROM inbox WHERE event_type = $1", first.type)
        state = await worker.item(item_id)
        if consumed == 5 and state["wanted_at"] is None and state["lease_holder"] is None:
            break
        await asyncio.sleep(0.05)
    assert consumed == 5
    runs = await worker.wait_runs(item_id, 2)
    assert len(runs) <= 1 + 5
    await assert_converged(worker, reader, emulator, item_id)


async def test_not_ready_is_not_an_error_and_the_data_follows(
    database_url: str, kafka_bootstrap_servers: str, uid: str, reader
) -> None:
    with running_emulator(not_ready_delay=1.0, historical_delay=0) as slow:
        settings = _settings(database_url, kafka_bootstrap_servers, slow, uid)
        async with running_worker(settings) as worker:
            item = slow.create_item(transactions=700)  # Plaid is still pulling its data
            await worker.link(item["item_id"], item["access_token"])
            runs = await worker.wait_runs(item["item_id"], 1, outcome="completed")
            all_runs = await worker.runs(item["item_id"])
            assert all_runs[0]["outcome"] == "not_ready" and all_runs[0]["error_code"] is None
            assert {r["outcome"] for r in all_runs} == {"not_ready", "completed"}
            assert runs[0]["added"] == 700
            await assert_converged(worker, reader, slow, item["item_id"])


async def test_pages_are_committed_as_they_arrive_and_a_restart_removes_what_vanished_meanwhile(
    worker: Worker, emulator: RunningEmulator, reader
) -> None:
    """Each page is committed with its cursor while the loop goes on (ADR 0011). A restart
    (MUTATION_DURING_PAGINATION) starts again from the loop's start cursor, whose answer no longer mentions
    the pending transactions an earlier page published and that posted meanwhile (created and removed
    since that cursor): the run publishes their removal, so the stream still equals the ground truth."""
    item = emulator.create_item(transactions=300, ready=True)
    item_id = item["item_id"]
    await worker.link(item_id, item["access_token"])
    await worker.wait_runs(item_id, 1)
    for _ in range(700):  # 700 new pending transactions after the cursor: two pages
        emulator.control("POST", f"/items/{item_id}/mutate", {})
    emulator.set_fault(endpoint="/transactions/sync", item_id=item_id, latency_ms=1500, count=None)
    await worker.request_sync(item_id)

    async def first_page_committed() -> bool:
        return bool((await worker.item(item_id))["loop_pages"])

    await wait_until(first_page_committed, timeout=30)
    page_one = await worker.pool.fetchval(
        "SELECT added FROM sync_loop_pages WHERE item_id = $1 AND page = 1", item_id
    )
    assert len(page_one) == 500  # published: the page's events are in the outbox, or on Kafka already
    emulator.refresh(item_id)  # every pending posts: the next page meets MUTATION_DURING_PAGINATION
    runs = await worker.wait_runs(item_id, 2, timeout=60)
    emulator.clear_faults()
    run = runs[-1]
    assert run["outcome"] == "completed" and run["restarts"] >= 1
    events = await assert_converged(worker, reader, emulator, item_id)
    removed = {e.data["transaction_id"] for e in events if e.data["change"] == "removed"}
    assert set(page_one) <= removed, "every pending the first pass published is removed"
    assert await worker.pool.fetchval("SELECT count(*) FROM sync_loop_pages WHERE item_id = $1", item_id) == 0
    assert (await worker.item(item_id))["loop_run_id"] is None


async def test_a_resync_from_scratch_catches_up_then_pages_again_from_the_empty_cursor(
    worker: Worker, emulator: RunningEmulator, reader
) -> None:
    """SyncRequested with from_scratch: one run from the cursor first (a catch-up: what was removed since the
    cursor, pendings that posted here, is published as removed; a pass from the empty cursor would never
    mention them), then a loop from the empty cursor, so every transaction is published again (newer
    versions of the same ids); a MUTATION_DURING_PAGINATION in that loop restarts it from the empty cursor.
    The stream still equals the ground truth. A plain request after it runs from the cursor again."""
    item = emulator.create_item(transactions=700, ready=True)
    item_id = item["item_id"]
    await worker.link(item_id, item["access_token"])
    await worker.wait_runs(item_id, 1)
    for _ in range(3):  # pendings a consumer sees...
        emulator.control("POST", f"/items/{item_id}/mutate", {})
    await worker.request_sync(item_id)
    *_, plain = await worker.wait_runs(item_id, 2)
    assert (plain["pages"], plain["added"]) == (1, 3)
    head = emulator.ground_truth(item_id)["log_head"]
    emulator.refresh(item_id)  # ...that post later: removed since the cursor, and no sync has said so yet
    await wait_until(lambda: _moved(emulator, item_id, head), timeout=10)

    emulator.control("POST", f"/items/{item_id}/mutate", {"during_pagination": 1})
    await worker.request_sync(item_id, from_scratch=True)
    *_, catch_up, resync = await worker.wait_runs(item_id, 4)
    truth = {t["transaction_id"] for t in emulator.ground_truth(item_id)["transactions"]}
    assert (catch_up["pages"], catch_up["restarts"]) == (1, 0) and catch_up["removed"] >= 3
    assert resync["outcome"] == "completed" and resync["restarts"] == 1
    assert resync["added"] >= len(truth) >= 700, "the whole history again (and what an abandoned pass had)"
    after = await worker.item(item_id)
    assert after["cursor"] and after["from_scratch_asked_at"] is None and after["loop_run_id"] is None
    events = await assert_converged(worker, reader, emulator, item_id)
    again = [e for e in events if e.data["sync_sequence"] > catch_up["last_sequence"]]
    assert {e.data["transaction_id"] for e in again if e.data["change"] == "added"} >= truth

    await worker.request_sync(item_id)  # the ask was honoured once: the next run is from the cursor again
    *_, next_run = await worker.wait_runs(item_id, 5)
    assert (next_run["pages"], next_run["added"]) == (1, 0)


async def _moved(emulator: RunningEmulator, item_id: str, head: int) -> bool:
    return bool(emulator.ground_truth(item_id)["log_head"] > head)
