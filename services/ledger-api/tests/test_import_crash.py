"""An import interrupted between or inside batches loses and duplicates nothing: each batch is one
transaction (rows, findings, events in the outbox, progress), so a failed batch leaves no trace and the
runner resumes after the last committed one. A failure that is not transient fails that import alone.

The failure is made by PostgreSQL itself, a trigger on `import_rows` that raises on the Nth batch (a
sequence counts the batches: nextval is not rolled back with the failed transaction)."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from ledger_api.domain import imported

from .api_harness import LedgerApi, bearer, read_events, running_ledger_api, seed_alice_and_bob, wait_until

pytestmark = pytest.mark.integration

LINES = [f"2026-11-{1 + i % 28:02d},SHOP {i},-{10 + i}.00" for i in range(9)]
CSV = "Date,Text,Amount\n" + "\n".join(LINES) + "\n"
BODY = {
    "account_id": "acc-a1",
    "layout": "generic",
    "mapping": {"date": "Date", "description": "Text", "amount": "Amount"},
    "csv": CSV,
}


@pytest.fixture
async def api(database_url: str, kafka_bootstrap_servers: str) -> AsyncIterator[LedgerApi]:
    async with running_ledger_api(
        database_url, kafka_bootstrap_servers, import_batch_rows=2, import_poll_seconds=0.1
    ) as running:
        await seed_alice_and_bob(running.pool)
        yield running


async def fail_batch(api: LedgerApi, nth: int, sqlstate: str) -> None:
    """The nth batch that writes import rows fails with `sqlstate` (40001: a serialization failure,
    transient; P0001: a plain raise, not)."""
    await api.pool.execute(
        f"""CREATE SEQUENCE batches;
            CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('batches') = {nth} THEN
                    RAISE EXCEPTION 'injected failure' USING ERRCODE = '{sqlstate}';
                END IF;
                RETURN NULL;
            END $$;
            CREATE TRIGGER fail_once AFTER INSERT ON import_rows
                FOR EACH STATEMENT EXECUTE FUNCTION fail_once();"""
    )


async def finished(api: LedgerApi, import_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        body = (await api.get(f"/v1/imports/{import_id}")).json()
        return body if body["state"] != "running" else None

    return await wait_until(done, timeout=30)


async def test_a_batch_that_fails_midway_is_redone_whole_and_nothing_twice(
    api: LedgerApi, kafka_bootstrap_servers: str
) -> None:
    await fail_batch(api, 3, "40001")
    started = await api.http.post("/v1/imports", json=BODY, headers=bearer("alice"))
    report = await finished(api, started.json()["import_id"])
    assert report["state"] == "succeeded"
    assert report["report"]["imported"] == 9
    assert report["progress"]["processed"] == 9
    lines = await api.pool.fetch("SELECT line FROM import_rows ORDER BY line")
    assert [r["line"] for r in lines] == list(range(2, 11))
    findings = await api.pool.fetchval("SELECT count(*) FROM import_findings")
    assert findings == 0
    # every line's event published once: the failed batch's events were rolled back with it
    events = await read_events(kafka_bootstrap_servers, api.topic(imported.TOPIC_IMPORTED), at_least=9)
    assert sorted(e.data["position"] for e in events) == list(range(9))


async def test_a_failure_that_is_not_transient_fails_that_import_alone(api: LedgerApi) -> None:
    await fail_batch(api, 2, "P0001")
    broken = await api.http.post("/v1/imports", json=BODY, headers=bearer("alice"))
    report = await finished(api, broken.json()["import_id"])
    assert report["state"] == "failed"
    assert "injected failure" in report["error"]
    assert report["progress"]["processed"] == 2  # the first batch stays committed
    # the next import goes through (the trigger fires once)
    fine = await api.http.post("/v1/imports", json=BODY, headers=bearer("alice"))
    assert (await finished(api, fine.json()["import_id"]))["state"] == "succeeded"
