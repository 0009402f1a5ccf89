"""Corrections against the real broker and database: an override is recorded and never clobbered by a
rule or by learning; 3 of the last 5 corrections of a merchant key make it learned, and the user's other
transactions of that merchant are re-categorized; a contract-breaking override goes to the DLQ."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bankstream_common.envelope import Envelope
from categorizer.domain import events as ev

from .harness import Categorizer, by_txn, wait_until

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, tzinfo=UTC)


async def override(
    svc: Categorizer,
    transaction_id: str,
    detailed: str | None,
    *,
    at: int,
    merchant: str | None = "Blue Bottle",
) -> Envelope:
    primary = (
        detailed.split("_AND_")[0] + "_AND_" + detailed.split("_AND_")[1].split("_")[0] if detailed else None
    )
    data: dict[str, Any] = {
        "user_id": "alice",
        "transaction_id": transaction_id,
        "account_id": "acc-1",
        "item_id": "item-1",
        "category": {"primary": primary, "detailed": detailed} if detailed else None,
        "previous": None,
        "merchant_name": merchant,
        "name": "SQ *BLUE BOTTLE COFF",
        "original_description": None,
        "amount": 5.25,
        "iso_currency_code": "USD",
        "overridden_at": (T0 + timedelta(minutes=at)).isoformat(),
    }
    return await svc.publish(ev.TOPIC_OVERRIDES, "alice", ev.CATEGORY_OVERRIDDEN, data)


async def test_three_of_five_corrections_teach_a_merchant_and_overrides_are_never_clobbered(
    svc: Categorizer,
) -> None:
    await svc.link("item-1", "alice")
    for i in range(8):
        await svc.transaction(
            transaction_id=f"t{i}",
            sync_sequence=i + 1,
            merchant_name="Blue Bottle",
            name="SQ *BLUE BOTTLE COFF",
        )
    await svc.output(lambda es: len(es) >= 8)
    # two corrections: not learned yet, nothing re-categorized
    await override(svc, "t0", "FOOD_AND_DRINK_COFFEE", at=1)
    await override(svc, "t1", "FOOD_AND_DRINK_COFFEE", at=2)
    await wait_until(lambda: svc.pool.fetchval("SELECT count(*) = 2 FROM corrections"))
    assert await svc.pool.fetchval("SELECT count(*) FROM learned") == 0
    # a third: learned; every other Blue Bottle transaction but the overridden ones is re-categorized
    third = await override(svc, "t2", "FOOD_AND_DRINK_COFFEE", at=3)
    job = await wait_until(lambda: svc.pool.fetchrow("SELECT * FROM jobs WHERE state = 'succeeded'"))
    assert job["reason"] == "learned" and job["caused_by"] == str(third.id)
    assert (job["total"], job["processed"], job["changed"]) == (8, 8, 5)
    out = await svc.output(lambda es: sum(e.data["change"] == "recategorized" for e in es) >= 5)
    again = [e.data for e in out if e.data["change"] == "recategorized"]
    assert sorted(d["transaction_id"] for d in again) == ["t3", "t4", "t5", "t6", "t7"]
    for d in again:
        assert d["category"]["source"] == "learned"
        assert d["category"]["decided_by"] == "learned:blue bottle coffee"
        assert d["category"]["detailed"] == "FOOD_AND_DRINK_COFFEE"
    # a rule saved later re-categorizes the rest, never the overridden ones
    r = await svc.call(
        "POST",
        "/v1/rules",
        json={"match": {"merchant": "blue bottle"}, "category": "FOOD_AND_DRINK_FAST_FOOD"},
    )
    job = await svc.job_done(r.json()["job"]["job_id"])
    assert job["changed"] == 5
    out = await svc.output(lambda es: sum(e.data["change"] == "recategorized" for e in es) >= 10)
    for overridden in ("t0", "t1", "t2"):
        assert [d["change"] for d in by_txn(out, overridden)] == ["added"]
    # a new transaction of the merchant: the rule wins over what was learned (first match)
    await svc.transaction(
        transaction_id="t9", sync_sequence=20, merchant_name="Blue Bottle", name="BLUE BOTTLE"
    )
    out = await svc.output(lambda es: bool(by_txn(es, "t9")))
    assert by_txn(out, "t9")[0]["category"]["source"] == "user_rule"


async def test_learning_follows_the_last_five_corrections(svc: Categorizer) -> None:
    await svc.link("item-1", "alice")
    await svc.transaction(transaction_id="x", merchant_name="Corner Shop", name="CORNER SHOP 12")
    await svc.output(lambda es: len(es) >= 1)
    for i, detailed in enumerate(["FOOD_AND_DRINK_COFFEE"] * 3 + ["FOOD_AND_DRINK_GROCERIES"] * 3):
        await override(svc, f"o{i}", detailed, at=i, merchant="Corner Shop")
    await wait_until(lambda: svc.pool.fetchval("SELECT count(*) = 6 FROM corrections"))
    learned = await svc.pool.fetchval("SELECT detailed FROM learned WHERE merchant_key = 'corner shop'")
    assert learned == "FOOD_AND_DRINK_GROCERIES"  # last five: 2 coffee, 3 groceries
    out = await svc.output(
        lambda es: by_txn(es, "x")[-1]["category"]["detailed"] == "FOOD_AND_DRINK_GROCERIES"
    )
    versions = [d["version"] for d in by_txn(out, "x")]
    assert versions == list(range(1, len(versions) + 1))  # coffee may be skipped if groceries came first


async def test_a_cleared_override_is_forgotten_and_a_bad_one_is_dead_lettered(svc: Categorizer) -> None:
    await override(svc, "t0", "FOOD_AND_DRINK_COFFEE", at=1)
    await wait_until(lambda: svc.pool.fetchval("SELECT count(*) = 1 FROM overrides"))
    await override(svc, "t0", None, at=2)
    await wait_until(lambda: svc.pool.fetchval("SELECT count(*) = 0 FROM overrides"))
    bad = Envelope.new(
        source="bankstream/ledger-api",
        type=ev.CATEGORY_OVERRIDDEN,
        subject="t1",
        data={"user_id": "alice", "transaction_id": "t1"},
    )
    await svc.send_raw(ev.TOPIC_OVERRIDES, "alice", bad.to_json())
    unknown = await override(svc, "t2", "FOOD_AND_DRINK_NOT_A_THING", at=3)
    await override(svc, "t3", "FOOD_AND_DRINK_COFFEE", at=4)
    await wait_until(lambda: svc.pool.fetchval("SELECT count(*) = 1 FROM overrides"))
    dead = await wait_until(
        lambda: (
            svc.pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", unknown.id)
            .__await__()
            .__next__
            if False
            else _dlq_count(svc)
        )
    )
    assert dead == 2


async def _dlq_count(svc: Categorizer) -> int | None:
    from .test_stream import read_all_raw

    raw = await read_all_raw(svc, svc.topic(ev.TOPIC_OVERRIDES) + ".dlq")
    return len(raw) if len(raw) >= 2 else None
