"""The enriched stream against the real broker and database: one output per input, in order, with the
tier that decided; redelivery; removal; a late ItemLinked; the DLQ for a contract-breaking event."""

import json

import pytest
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.topics import dlq_topic
from categorizer.domain import events as ev

from .harness import Categorizer, by_txn

pytestmark = pytest.mark.integration

VERY_HIGH_COFFEE = {
    "primary": "FOOD_AND_DRINK",
    "detailed": "FOOD_AND_DRINK_COFFEE",
    "confidence_level": "VERY_HIGH",
}
LOW_GROCERIES = {
    "primary": "FOOD_AND_DRINK",
    "detailed": "FOOD_AND_DRINK_GROCERIES",
    "confidence_level": "LOW",
}


async def test_each_transaction_changed_yields_one_categorized_event_with_its_tier(svc: Categorizer) -> None:
    await svc.link("item-1", "alice")
    await svc.transaction(transaction_id="t-plaid", name="SOMETHING", pfc=VERY_HIGH_COFFEE)
    await svc.transaction(transaction_id="t-model", name="STARBUCKS STORE 123", pfc=LOW_GROCERIES)
    await svc.transaction(transaction_id="t-fallback", name="XQZ 99812", pfc=None)
    out = await svc.output(lambda es: len(es) >= 3)
    assert len(out) == 3
    plaid, model, fallback = (by_txn(out, t)[0] for t in ("t-plaid", "t-model", "t-fallback"))
    assert plaid["category"]["source"] == "plaid"
    assert plaid["category"]["decided_by"] == "plaid:VERY_HIGH"
    assert plaid["category"]["detailed"] == "FOOD_AND_DRINK_COFFEE"
    assert model["category"]["source"] == "model"
    assert model["category"]["primary"] == "FOOD_AND_DRINK"
    assert fallback["category"] == {
        "primary": "OTHER",
        "detailed": "OTHER_OTHER",
        "source": "fallback",
        "confidence": 0.0,
        "decided_by": "fallback",
        "needs_review": True,
        "merchant": None,
    }
    for data in (plaid, model, fallback):
        assert data["user_id"] == "alice"
        assert data["version"] == 1
        assert data["change"] == "added"
        assert data["transaction"]["name"]
        ev.TransactionCategorized.model_validate(data)
    e = out[0]
    assert e.type == ev.TRANSACTION_CATEGORIZED and e.source == ev.SOURCE


async def test_per_account_order_versions_and_a_removal_passing_through(svc: Categorizer) -> None:
    for seq in range(1, 21):
        await svc.transaction(
            transaction_id=f"t{seq % 3}", account_id="acc-9", sync_sequence=seq, change="modified", amount=seq
        )
    await svc.transaction(transaction_id="t1", account_id="acc-9", sync_sequence=21, change="removed")
    out = await svc.output(lambda es: len(es) >= 21)
    assert [e.data["sync_sequence"] for e in out] == list(range(1, 22))
    t1 = by_txn(out, "t1")
    assert [d["version"] for d in t1] == list(range(1, len(t1) + 1))
    removed = t1[-1]
    assert removed["change"] == "removed"
    assert removed["transaction"] is None and removed["category"] is None
    assert removed["user_id"] is None  # the Item was never linked: no user context


async def test_an_older_transaction_changed_after_a_newer_one_changes_nothing(svc: Categorizer) -> None:
    """A dead-letter replay or an out-of-order delivery: an event whose sync_sequence is not above the
    stored one neither moves the state back nor revives a removed transaction, and publishes nothing."""
    await svc.transaction(transaction_id="t-mod", sync_sequence=21, change="modified", amount=99)
    await svc.transaction(transaction_id="t-mod", sync_sequence=20, change="added", amount=5)
    await svc.transaction(transaction_id="t-mod", sync_sequence=21, change="modified", amount=42)  # new id
    await svc.transaction(transaction_id="t-rm", sync_sequence=31, change="removed")
    await svc.transaction(transaction_id="t-rm", sync_sequence=30, change="added", amount=5)
    await svc.transaction(transaction_id="t-mod", sync_sequence=40, change="modified", amount=7)
    out = await svc.output(lambda es: any(e.data["sync_sequence"] == 40 for e in es))
    published = {
        t: [
            (d["change"], d["sync_sequence"], d["version"], (d["transaction"] or {}).get("amount"))
            for d in by_txn(out, t)
        ]
        for t in ("t-mod", "t-rm")
    }
    assert published == {
        "t-mod": [("modified", 21, 1, 99), ("modified", 40, 2, 7)],
        "t-rm": [("removed", 31, 1, None)],
    }
    rows = await svc.pool.fetch(
        "SELECT transaction_id, version, sync_sequence, (state::jsonb->>'amount')::float8 AS amount"
        " FROM transactions WHERE transaction_id IN ('t-mod', 't-rm') ORDER BY transaction_id"
    )
    assert [tuple(r) for r in rows] == [("t-mod", 2, 40, 7.0), ("t-rm", 1, 31, None)]
    consumed = await svc.pool.fetchval(
        "SELECT count(*) FROM inbox WHERE event_type = $1", ev.TRANSACTION_CHANGED
    )
    assert consumed == 6  # the stale ones too: recorded, never retried


async def test_the_same_event_delivered_twice_yields_one_output(svc: Categorizer) -> None:
    event = await svc.transaction(transaction_id="t-dup")
    await svc.send_raw(ev.TOPIC_TRANSACTIONS, "acc-1", event.to_json())
    await svc.transaction(transaction_id="t-after", sync_sequence=2)
    out = await svc.output(lambda es: any(e.data["transaction_id"] == "t-after" for e in es))
    assert len(by_txn(out, "t-dup")) == 1
    assert by_txn(out, "t-dup")[0]["caused_by"] == str(event.id)


async def test_a_contract_breaking_event_goes_to_the_dlq_and_the_stream_goes_on(svc: Categorizer) -> None:
    bad = Envelope.new(
        source="bankstream/test",
        type=ev.TRANSACTION_CHANGED,
        subject="acc-1",
        data={"change": "added", "transaction_id": "t-bad"},  # no account, item, sync_sequence
    )
    await svc.send_raw(ev.TOPIC_TRANSACTIONS, "acc-1", bad.to_json())
    await svc.send_raw(ev.TOPIC_TRANSACTIONS, "acc-1", b"not json")
    await svc.transaction(transaction_id="t-good", sync_sequence=3)
    out = await svc.output(lambda es: any(e.data["transaction_id"] == "t-good" for e in es))
    assert not by_txn(out, "t-bad")
    dlq = await read_all_raw(svc, dlq_topic(svc.topic(ev.TOPIC_TRANSACTIONS)))
    assert len(dlq) == 2


async def test_another_version_of_item_linked_is_dead_lettered_not_ignored(svc: Categorizer) -> None:
    """Item events the categorizer does not read (status changes) are ignored; a version of ItemLinked it
    does not read yet is dead-lettered, to be replayed once it does (ignored, the user of the Item's
    transactions would be lost for good)."""
    newer = Envelope.new(
        source="bankstream/link-svc",
        type=ev.ITEM_LINKED.replace(".v1", ".v2"),
        subject="item-v2",
        data={"item_id": "item-v2", "user_id": "alice"},
    )
    status = Envelope.new(
        source="bankstream/link-svc",
        type="bankstream.item.status_changed.v1",
        subject="item-v2",
        data={"item_id": "item-v2", "status": "good"},
    )
    await svc.send_raw(ev.TOPIC_ITEMS, "item-v2", newer.to_json())
    await svc.send_raw(ev.TOPIC_ITEMS, "item-v2", status.to_json())
    await svc.link("item-after", "bob")  # the partition went on
    dlq = await read_all_raw(svc, dlq_topic(svc.topic(ev.TOPIC_ITEMS)), at_least=1)
    assert [Envelope.from_json(d).id for d in dlq] == [newer.id]


async def read_all_raw(svc: Categorizer, topic: str, at_least: int = 2) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=svc.kafka, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        out: list[bytes] = []
        for _ in range(30):
            for records in (await consumer.getmany(timeout_ms=300)).values():
                out.extend(r.value for r in records)
            if len(out) >= at_least:
                break
        return out
    finally:
        await consumer.stop()


async def test_an_item_linked_late_recategorizes_its_transactions_with_the_users_rules(
    svc: Categorizer,
) -> None:
    r = await svc.call(
        "POST",
        "/v1/rules",
        "bob",
        json={"match": {"description_contains": "blue bottle"}, "category": "FOOD_AND_DRINK_COFFEE"},
    )
    assert r.status_code == 201, r.text
    await svc.transaction(transaction_id="t-late", item_id="item-late")
    first = await svc.output(lambda es: len(by_txn(es, "t-late")) == 1)
    assert by_txn(first, "t-late")[0]["user_id"] is None
    assert by_txn(first, "t-late")[0]["category"]["source"] != "user_rule"
    await svc.link("item-late", "bob")
    out = await svc.output(lambda es: len(by_txn(es, "t-late")) == 2)
    again = by_txn(out, "t-late")[1]
    assert again["change"] == "recategorized"
    assert again["user_id"] == "bob"
    assert again["version"] == 2 and again["sync_sequence"] is None
    assert again["category"]["source"] == "user_rule"
    assert again["category"]["decided_by"] == r.json()["rule"]["rule_id"]
    assert json.loads(json.dumps(again["transaction"]))["transaction_id"] == "t-late"
    # the job bumped the version, not the sync_sequence: the same change again is still stale, a newer applies
    await svc.transaction(transaction_id="t-late", item_id="item-late", amount=1)
    await svc.transaction(transaction_id="t-late", item_id="item-late", sync_sequence=2, change="modified")
    out = await svc.output(lambda es: len(by_txn(es, "t-late")) >= 3)
    assert [(d["change"], d["version"], d["sync_sequence"]) for d in by_txn(out, "t-late")] == [
        ("added", 1, 1),
        ("recategorized", 2, None),
        ("modified", 3, 2),
    ]
    assert by_txn(out, "t-late")[2]["category"]["source"] == "user_rule"
