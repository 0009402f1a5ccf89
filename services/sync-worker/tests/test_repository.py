"""sync_items on the real PostgreSQL: triggers collapse, one lease per Item, fenced commits, the history."""

import asyncio
import datetime as dt
import uuid

import asyncpg
import httpx
import pytest
from bankstream_common.envelope import Envelope
from bankstream_common.testing.issuer import TEST_ISSUER
from prometheus_client import CollectorRegistry
from sync_worker.adapters import history
from sync_worker.adapters.repository import Claim, RunRecord, SyncRepository, apply_trigger
from sync_worker.config import Settings
from sync_worker.domain.triggers import TriggerAction
from sync_worker.entrypoints.http import create_app
from sync_worker.metrics import Metrics

pytestmark = pytest.mark.integration


async def trigger(
    pool: asyncpg.Pool,
    item_id: str,
    effect: str,
    kind: str = "webhook:SYNC_UPDATES_AVAILABLE",
    refresh: bool = False,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await apply_trigger(conn, TriggerAction(item_id, effect, kind, refresh))  # type: ignore[arg-type]


def record(claim: Claim, outcome: str = "completed") -> RunRecord:
    now = dt.datetime.now(dt.UTC)
    return RunRecord(str(uuid.uuid4()), claim.item_id, claim.triggers, outcome, 1, 0, 1, 0, 0, now, now)


async def commit(repo: SyncRepository, claim: Claim, cursor: str = "c1") -> bool:
    return await repo.commit_run(
        claim,
        record(claim),
        next_cursor=cursor,
        last_sequence=claim.last_sequence,
        update_status=None,
        at=(claim.cursor, claim.last_sequence),
        staged=(uuid.uuid4(), 0),
        events=[],
    )


async def test_many_triggers_collapse_into_one_run_and_a_late_one_makes_exactly_one_more(
    pool: asyncpg.Pool,
) -> None:
    repo = SyncRepository(pool, worker="w1", lease_seconds=30)
    await trigger(pool, "item-a", "link", "item_linked")
    for kind in ("webhook:SYNC_UPDATES_AVAILABLE", "webhook:DEFAULT_UPDATE", "requested", "requested"):
        await trigger(pool, "item-a", "want", kind, refresh=kind == "requested")
    (claim,) = await repo.claim_due(10)
    assert claim.triggers == (
        "item_linked",
        "webhook:SYNC_UPDATES_AVAILABLE",
        "webhook:DEFAULT_UPDATE",
        "requested",
    )
    assert claim.refresh
    assert await repo.claim_due(10) == [], "a leased Item is not handed out twice"
    await trigger(pool, "item-a", "want", "webhook:SYNC_UPDATES_AVAILABLE")  # arrives during the run
    assert await commit(repo, claim)
    (again,) = await repo.claim_due(10)
    assert (
        again.triggers == ("webhook:SYNC_UPDATES_AVAILABLE",) and again.cursor == "c1" and not again.refresh
    )
    assert await commit(repo, again, "c2")
    assert await repo.claim_due(10) == []


async def test_the_commit_releases_its_attempts_events_and_drops_those_of_abandoned_attempts(
    pool: asyncpg.Pool,
) -> None:
    repo = SyncRepository(pool, worker="w1", lease_seconds=30)
    await trigger(pool, "item-s", "link", "item_linked")
    (claim,) = await repo.claim_due(1)

    def staged(first: int, n: int) -> list[tuple[int, str, str, bytes]]:
        return [(s, str(uuid.uuid4()), "acct-1", b"{}") for s in range(first, first + n)]

    abandoned, final = uuid.uuid4(), uuid.uuid4()  # a pagination restart between the two
    await repo.stage("item-s", abandoned, staged(1, 3))
    await repo.stage("item-s", final, staged(1, 2))
    await repo.stage("item-s", final, staged(3, 2))
    assert await repo.commit_run(
        claim,
        record(claim),
        next_cursor="c1",
        last_sequence=4,
        update_status=None,
        at=(claim.cursor, claim.last_sequence),
        staged=(final, 4),
        events=[],
    )
    left = await pool.fetch("SELECT batch_id, count(*) AS n FROM outbox_batch_rows GROUP BY batch_id")
    assert [(r["batch_id"], r["n"]) for r in left] == [(final, 4)]
    assert await pool.fetchval("SELECT batch_last FROM outbox WHERE batch_id = $1", final) == 4


async def test_only_one_of_many_concurrent_workers_gets_an_item(pool: asyncpg.Pool) -> None:
    for i in range(20):
        await trigger(pool, f"item-{i}", "link", "item_linked")
    repos = [SyncRepository(pool, worker=f"w{n}", lease_seconds=30) for n in range(6)]
    claims = await asyncio.gather(*(r.claim_due(7) for r in repos))
    claimed = [c.item_id for batch in claims for c in batch]
    assert sorted(claimed) == sorted(f"item-{i}" for i in range(20)), "each Item exactly once"


async def test_a_run_whose_lease_was_taken_over_cannot_commit(pool: asyncpg.Pool) -> None:
    slow = SyncRepository(pool, worker="slow", lease_seconds=0.2)
    fast = SyncRepository(pool, worker="fast", lease_seconds=30)
    await trigger(pool, "item-b", "link", "item_linked")
    (stale,) = await slow.claim_due(1)
    await asyncio.sleep(0.3)  # the slow worker's lease expires (a GC pause, a partition)
    (taken,) = await fast.claim_due(1)
    assert not await slow.renew(stale)
    assert await commit(fast, taken, "from-fast")
    assert not await commit(slow, stale, "from-slow"), "fenced: not its lease, not its cursor"
    row = await pool.fetchrow("SELECT cursor FROM sync_items WHERE item_id = 'item-b'")
    assert row["cursor"] == "from-fast"
    assert await pool.fetchval("SELECT count(*) FROM sync_runs WHERE item_id = 'item-b'") == 1


async def test_a_run_whose_lease_ran_out_can_neither_commit_nor_record_a_failure(pool: asyncpg.Pool) -> None:
    repo = SyncRepository(pool, worker="w1", lease_seconds=30)
    await trigger(pool, "item-x", "link", "item_linked")
    (claim,) = await repo.claim_due(1)
    # its renewals failed for a whole lease length: the lease ran out, nobody has claimed the Item yet
    await pool.execute("UPDATE sync_items SET lease_until = now() - interval '1 second'")
    assert not await commit(repo, claim, "late"), "a run that lost its lease committed"
    assert not await repo.fail_run(claim, record(claim, "failed"), next_step="retry", delay=1, events=[])
    row = await pool.fetchrow("SELECT cursor, failed_runs FROM sync_items WHERE item_id = 'item-x'")
    assert (row["cursor"], row["failed_runs"]) == ("", 0)
    assert await pool.fetchval("SELECT count(*) FROM sync_runs") == 0


async def test_an_item_claimed_again_by_the_same_process_fences_off_the_first_run(pool: asyncpg.Pool) -> None:
    repo = SyncRepository(pool, worker="w1", lease_seconds=30)
    await trigger(pool, "item-y", "link", "item_linked")
    (first,) = await repo.claim_due(1)
    await pool.execute("UPDATE sync_items SET lease_until = now() - interval '1 second'")
    (second,) = await repo.claim_due(1)  # the same process, the same cursor: only the lease tells them apart
    assert not await commit(repo, first, "from-first"), "the first run's lease is gone"
    assert await commit(repo, second, "from-second")
    row = await pool.fetchrow("SELECT cursor FROM sync_items WHERE item_id = 'item-y'")
    assert row["cursor"] == "from-second"
    assert await pool.fetchval("SELECT count(*) FROM sync_runs") == 1


async def test_an_item_this_process_is_running_is_not_claimed_again_and_an_expired_lease_is_not_renewed(
    pool: asyncpg.Pool,
) -> None:
    repo = SyncRepository(pool, worker="w1", lease_seconds=30)
    await trigger(pool, "item-z", "link", "item_linked")
    (claim,) = await repo.claim_due(1)
    assert await repo.renew(claim)
    await pool.execute("UPDATE sync_items SET lease_until = now() - interval '1 second'")
    assert not await repo.renew(claim), "a lease that ran out is lost, even if nobody took it"
    assert await repo.claim_due(5, running=["item-z"]) == []
    (again,) = await repo.claim_due(5, running=["item-other"])
    assert again.item_id == "item-z" and again.lease != claim.lease
    assert again.lease.startswith("w1/")


async def test_paused_and_removed_items_are_not_synced_and_repair_resumes(pool: asyncpg.Pool) -> None:
    repo = SyncRepository(pool, worker="w1", lease_seconds=30)
    await trigger(pool, "item-c", "link", "item_linked")
    await trigger(pool, "item-c", "pause", "")
    await trigger(pool, "item-c", "want", "requested")
    assert await repo.claim_due(10) == []
    await trigger(pool, "item-c", "resume", "login_repaired")
    (claim,) = await repo.claim_due(10)
    assert "login_repaired" in claim.triggers
    await repo.release(claim)
    await trigger(pool, "item-c", "stop", "")
    await trigger(pool, "item-c", "resume", "login_repaired")  # a late repair does not resurrect it
    assert await repo.claim_due(10) == []


async def test_a_status_change_older_than_the_last_applied_changes_nothing(pool: asyncpg.Pool) -> None:
    """ItemStatusChanged delivered out of order (a dead-letter replay): a `login_required` of t0 arriving
    after the `good` of t0+10 s must not pause the Item, nor a `good` of t0 resume one paused at t0+20 s."""
    t0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    async def status(item_id: str, effect: str, seconds: int) -> None:
        at = t0 + dt.timedelta(seconds=seconds)
        kind = "login_repaired" if effect == "resume" else ""
        async with pool.acquire() as conn, conn.transaction():
            await apply_trigger(conn, TriggerAction(item_id, effect, kind, status_changed_at=at))  # type: ignore[arg-type]

    async def state(item_id: str) -> str:
        return await pool.fetchval("SELECT status FROM sync_items WHERE item_id = $1", item_id)

    await trigger(pool, "item-1", "link", "item_linked")
    await status("item-1", "resume", 10)
    await status("item-1", "pause", 0)  # older, delivered late
    assert await state("item-1") == "active"
    await status("item-1", "pause", 20)
    assert await state("item-1") == "needs_attention"
    await status("item-1", "resume", 15)  # older than the pause
    assert await state("item-1") == "needs_attention"
    await status("item-1", "resume", 30)
    assert await state("item-1") == "active"
    await trigger(pool, "item-1", "resume", "login_repaired")  # a LOGIN_REPAIRED webhook: no time, applies
    assert await state("item-1") == "active"


@pytest.mark.parametrize("next_step", ["pause", "retry", "wait"])
async def test_an_item_removed_while_its_run_went_on_stays_removed_when_the_run_fails(
    pool: asyncpg.Pool, next_step: str
) -> None:
    """ItemRemoved consumed mid-run, then Plaid answers ITEM_NOT_FOUND (pause): the Item stays removed,
    and no SyncFailed tells link-svc it needs attention."""
    repo = SyncRepository(pool, worker="w1", lease_seconds=30)
    await trigger(pool, "item-r", "link", "item_linked")
    (claim,) = await repo.claim_due(1)
    await trigger(pool, "item-r", "stop", "")
    failed = Envelope.new(source="t", type="bankstream.sync.failed.v1", subject="item-r", data={})
    events = [("bankstream.sync-runs", "item-r", failed)]
    assert await repo.fail_run(claim, record(claim, "failed"), next_step=next_step, delay=0, events=events)
    assert await pool.fetchval("SELECT status FROM sync_items WHERE item_id = 'item-r'") == "removed"
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await pool.fetchval("SELECT count(*) FROM sync_runs") == 1
    await trigger(pool, "item-r", "resume", "login_repaired")  # a late repair does not resurrect it
    assert await repo.claim_due(10) == []


async def test_quiet_items_become_wanted(pool: asyncpg.Pool) -> None:
    repo = SyncRepository(pool, worker="w1", lease_seconds=30)
    await trigger(pool, "item-d", "link", "item_linked")
    (claim,) = await repo.claim_due(1)
    assert await commit(repo, claim)
    assert await repo.want_quiet_items(3600) == 0
    await pool.execute("UPDATE sync_items SET last_synced_at = now() - interval '2 hours'")
    assert await repo.want_quiet_items(3600) == 1
    (again,) = await repo.claim_due(1)
    assert again.triggers == ("scheduled",)


async def test_history_is_queryable_over_http(pool: asyncpg.Pool, database_url: str) -> None:
    repo = SyncRepository(pool, worker="w1", lease_seconds=30)
    await trigger(pool, "item-e", "link", "item_linked")
    (claim,) = await repo.claim_due(1)
    assert await commit(repo, claim)
    await trigger(pool, "item-e", "want", "requested")
    (claim,) = await repo.claim_due(1)
    failed = RunRecord(
        str(uuid.uuid4()),
        "item-e",
        claim.triggers,
        "failed",
        0,
        0,
        0,
        0,
        0,
        dt.datetime.now(dt.UTC),
        dt.datetime.now(dt.UTC),
        "ITEM_LOGIN_REQUIRED",
        "ITEM_ERROR",
        False,
    )
    event = Envelope.new(
        source="t", type="bankstream.sync.failed.v1", subject="item-e", data={"item_id": "item-e"}
    )
    assert await repo.fail_run(
        claim, failed, next_step="pause", delay=0, events=[("t.sync-runs", "item-e", event)]
    )

    settings = Settings(
        env="test",
        database_url=database_url,
        kafka_bootstrap_servers="127.0.0.1:1",
        plaid_client_id="c",
        plaid_secret="s-3f9a1c",
        link_svc_token="t-9d8e7f",
        **TEST_ISSUER.fields(),
    )  # type: ignore[call-arg]
    async with pool.acquire() as conn:
        await history.record_owner(conn, "item-e", "erin")
    app = create_app(settings, Metrics(CollectorRegistry()), {}, pool)
    headers = TEST_ISSUER.bearer("ops", ["items:read", "users:all"], kind="service")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sw", headers=headers
    ) as http:
        runs = (await http.get("/v1/items/item-e/sync-runs")).json()["runs"]
        assert [(r["outcome"], r["error_code"]) for r in runs] == [
            ("failed", "ITEM_LOGIN_REQUIRED"),
            ("completed", None),
        ]
        only_failed = (await http.get("/v1/items/item-e/sync-runs", params={"outcome": "failed"})).json()[
            "runs"
        ]
        assert len(only_failed) == 1
        state = (await http.get("/v1/items/item-e/sync")).json()
        assert state["status"] == "needs_attention" and state["last_error_code"] == "ITEM_LOGIN_REQUIRED"
        assert "cursor" not in state
        assert (await http.get("/v1/items/nope/sync")).status_code == 404
        assert len((await http.get("/v1/sync-runs/failures")).json()["runs"]) == 1
