"""TransactionCategorized into the ledger, through bootstrap() on the real broker and database:
version guard, redelivery, tombstones, locked edits, pending -> posted in both arrival orders."""

import uuid
from collections.abc import AsyncIterator

import pytest
from ledger_api.domain import consumed as ev

from .projection_harness import Ledger, categorized, item_linked, plaid_transaction, running_ledger

pytestmark = pytest.mark.integration

T = ev.TOPIC_CATEGORIZED


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
async def ledger(database_url: str, kafka_bootstrap_servers: str) -> AsyncIterator[Ledger]:
    async with running_ledger(database_url, kafka_bootstrap_servers) as running:
        yield running


async def _edit(ledger: Ledger, transaction_id: str, **edits: object) -> None:
    """What the API's PATCH does to the user_* columns (the API is another engineer's half)."""
    await ledger.pool.execute(
        """UPDATE transactions SET user_category_primary = $2, user_category_detailed = $3, user_notes = $4,
                  user_tags = $5, user_hidden = $6, user_edited_at = now(), edit_version = edit_version + 1
            WHERE transaction_id = $1""",
        transaction_id,
        edits.get("primary", "TRAVEL"),
        edits.get("detailed", "TRAVEL_TAXIS_AND_RIDE_SHARES"),
        edits.get("notes", "team lunch"),
        edits.get("tags", ["work"]),
        edits.get("hidden", True),
    )


def _ids(uid: str) -> tuple[str, str, str]:
    return f"item-{uid}", f"acct-{uid}", f"user-{uid}"


async def test_added_then_modified_then_removed_leaves_a_tombstone_with_every_change_recorded(
    ledger: Ledger, uid: str
) -> None:
    item, acct, user = _ids(uid)
    tid = f"tx-{uid}"
    events = [
        categorized(
            "added", plaid_transaction(tid, acct, amount=4.33), item_id=item, user_id=user, version=1
        ),
        categorized(
            "modified", plaid_transaction(tid, acct, amount=5.10), item_id=item, user_id=user, version=2
        ),
        categorized(
            "removed", None, transaction_id=tid, account_id=acct, item_id=item, user_id=user, version=3
        ),
    ]
    await ledger.send(T, acct, *events)
    await ledger.processed(*events)

    row = await ledger.transaction(tid)
    assert row["removed"] is True and row["removed_at"] is not None
    assert row["version"] == 3
    assert float(row["amount"]) == 5.10  # the tombstone keeps the last state
    assert row["category_primary"] == "FOOD_AND_DRINK"
    assert row["details"]["location"] == {"city": "Seattle", "region": "WA"}
    changes = await ledger.changes(tid)
    assert [(c["op"], c["version"]) for c in changes] == [("added", 1), ("modified", 2), ("removed", 3)]
    assert changes[1]["data"]["amount"] == 5.10 and changes[2]["data"]["removed"] is True
    assert {c["user_id"] for c in changes} == {user}


async def test_an_older_version_after_a_newer_one_changes_nothing(ledger: Ledger, uid: str) -> None:
    item, acct, user = _ids(uid)
    tid = f"tx-{uid}"
    newer = categorized(
        "modified", plaid_transaction(tid, acct, amount=9.99), item_id=item, user_id=user, version=5
    )
    older = categorized(
        "added", plaid_transaction(tid, acct, amount=1.00), item_id=item, user_id=user, version=4
    )
    older_removal = categorized(
        "removed", None, transaction_id=tid, account_id=acct, item_id=item, user_id=user, version=3
    )
    await ledger.send(T, acct, newer, older, older_removal)
    await ledger.processed(newer, older, older_removal)

    row = await ledger.transaction(tid)
    assert (row["version"], float(row["amount"]), row["removed"]) == (5, 9.99, False)
    assert [c["version"] for c in await ledger.changes(tid)] == [5]


async def test_a_redelivered_batch_is_applied_once(ledger: Ledger, uid: str) -> None:
    item, acct, user = _ids(uid)
    events = [
        categorized("added", plaid_transaction(f"tx-{uid}-{i}", acct), item_id=item, user_id=user, version=1)
        for i in range(20)
    ]
    await ledger.send(T, acct, *events)
    await ledger.send(T, acct, *events)  # the same events again (same ids): a producer retry, a replay
    sentinel = categorized(
        "added", plaid_transaction(f"tx-{uid}-s", acct), item_id=item, user_id=user, version=1
    )
    await ledger.send(T, acct, sentinel)  # same key, same partition: behind both copies
    await ledger.processed(*events, sentinel)

    n = await ledger.pool.fetchval("SELECT count(*) FROM changes WHERE entity_id LIKE $1", f"tx-{uid}-%")
    assert n == 21


async def test_a_users_edit_is_locked_against_modifications_and_recategorizations(
    ledger: Ledger, uid: str
) -> None:
    item, acct, user = _ids(uid)
    tid = f"tx-{uid}"
    added = categorized("added", plaid_transaction(tid, acct), item_id=item, user_id=user, version=1)
    await ledger.send(T, acct, added)
    await ledger.processed(added)
    await _edit(ledger, tid, primary="TRAVEL", detailed="TRAVEL_FLIGHTS", notes="trip", tags=["a", "b"])

    later = [
        categorized("modified", plaid_transaction(tid, acct, amount=7.5, name="Starbucks Reserve"),
                    item_id=item, user_id=user, version=2),
        categorized("recategorized", plaid_transaction(tid, acct, amount=7.5), item_id=item, user_id=user,
                    version=3, primary="GENERAL_MERCHANDISE", detailed="GENERAL_MERCHANDISE_OTHER"),
    ]  # fmt: skip
    await ledger.send(T, acct, *later)
    await ledger.processed(*later)

    row = await ledger.transaction(tid)
    assert float(row["amount"]) == 7.5 and row["category_primary"] == "GENERAL_MERCHANDISE"  # the rest moves
    edits = (row["user_category_primary"], row["user_category_detailed"], row["user_notes"], row["user_tags"])
    assert edits == ("TRAVEL", "TRAVEL_FLIGHTS", "trip", ["a", "b"])
    assert row["user_hidden"] is True
    view = (await ledger.changes(tid))[-1]["data"]
    assert view["category"]["source"] == "user" and view["category"]["detailed"] == "TRAVEL_FLIGHTS"
    assert view["categorizer_category"]["primary"] == "GENERAL_MERCHANDISE"


@pytest.mark.parametrize("removal_first", [True, False], ids=["removal-first", "posted-first"])
async def test_pending_to_posted_carries_the_users_edits_in_either_arrival_order(
    ledger: Ledger, uid: str, removal_first: bool
) -> None:
    item, acct, user = _ids(uid)
    pending_id, posted_id = f"pend-{uid}", f"post-{uid}"
    pending = categorized("added", plaid_transaction(pending_id, acct, pending=True), item_id=item,
                          user_id=user, version=1)  # fmt: skip
    await ledger.send(T, acct, pending)
    await ledger.processed(pending)
    await _edit(ledger, pending_id, notes="split with Sam", tags=["shared"], hidden=False)

    removal = categorized("removed", None, transaction_id=pending_id, account_id=acct, item_id=item,
                          user_id=user, version=2)  # fmt: skip
    posted = categorized(
        "added", plaid_transaction(posted_id, acct, pending_transaction_id=pending_id, amount=4.50),
        item_id=item, user_id=user, version=1,
    )  # fmt: skip
    await ledger.send(T, acct, *((removal, posted) if removal_first else (posted, removal)))
    await ledger.processed(removal, posted)

    row = await ledger.transaction(posted_id)
    assert (row["user_notes"], row["user_tags"], row["user_category_primary"]) == (
        "split with Sam", ["shared"], "TRAVEL"
    )  # fmt: skip
    assert row["user_edited_at"] is not None
    tomb = await ledger.transaction(pending_id)
    assert tomb["removed"] is True and tomb["user_notes"] == "split with Sam"  # the tombstone keeps them
    assert (await ledger.changes(posted_id))[-1]["data"]["user"]["notes"] == "split with Sam"


async def test_a_posted_transaction_with_its_own_edits_keeps_them(ledger: Ledger, uid: str) -> None:
    item, acct, user = _ids(uid)
    pending_id, posted_id = f"pend-{uid}", f"post-{uid}"
    first = [
        categorized("added", plaid_transaction(pending_id, acct, pending=True), item_id=item, user_id=user,
                    version=1),
        categorized("added", plaid_transaction(posted_id, acct, pending_transaction_id=pending_id),
                    item_id=item, user_id=user, version=1),
    ]  # fmt: skip
    await ledger.send(T, acct, *first)
    await ledger.processed(*first)
    await _edit(ledger, pending_id, notes="pending note")
    await _edit(ledger, posted_id, notes="posted note")
    again = categorized("modified", plaid_transaction(posted_id, acct, pending_transaction_id=pending_id),
                        item_id=item, user_id=user, version=2)  # fmt: skip
    await ledger.send(T, acct, again)
    await ledger.processed(again)
    assert (await ledger.transaction(posted_id))["user_notes"] == "posted note"


async def test_transactions_before_their_item_get_its_user_when_it_is_linked(
    ledger: Ledger, uid: str
) -> None:
    item, acct, user = _ids(uid)
    txs = [
        categorized("added", plaid_transaction(f"tx-{uid}-{i}", acct), item_id=item, user_id=None, version=1)
        for i in range(5)
    ]
    await ledger.send(T, acct, *txs)
    await ledger.processed(*txs)
    assert (
        await ledger.pool.fetchval(
            "SELECT count(*) FROM transactions WHERE item_id = $1 AND user_id IS NULL", item
        )
        == 5
    )

    linked = item_linked(item, user, [acct])
    await ledger.send(ev.TOPIC_ITEMS, item, linked)
    await ledger.processed(linked)
    for table in ("transactions", "changes"):
        owners = await ledger.pool.fetch(f"SELECT DISTINCT user_id FROM {table} WHERE item_id = $1", item)
        assert [r["user_id"] for r in owners] == [user], table

    late = categorized(
        "added", plaid_transaction(f"tx-{uid}-late", acct), item_id=item, user_id=None, version=1
    )
    await ledger.send(T, acct, late)
    await ledger.processed(late)
    assert (await ledger.transaction(f"tx-{uid}-late"))["user_id"] == user  # from the Item, now known


async def test_unknown_types_are_ignored_and_contract_breaking_data_is_dead_lettered(
    ledger: Ledger, uid: str
) -> None:
    from .projection_harness import envelope

    item, acct, user = _ids(uid)
    unknown = envelope("bankstream.transaction.annotated.v1", "bankstream/other", acct, {"anything": 1})
    broken = categorized(
        "added", plaid_transaction(f"tx-{uid}-b", acct), item_id=item, user_id=user, version=1
    )
    broken = broken.model_copy(update={"data": {**broken.data, "version": 0}})  # version must be >= 1
    good = categorized("added", plaid_transaction(f"tx-{uid}-g", acct), item_id=item, user_id=user, version=1)
    # a version of TransactionCategorized this ledger does not read yet: not ignored (and marked applied),
    # dead-lettered, to be replayed once it does
    newer = categorized(
        "added", plaid_transaction(f"tx-{uid}-n", acct), item_id=item, user_id=user, version=1
    )
    newer = newer.model_copy(update={"type": newer.type.replace(".v1", ".v2")})
    await ledger.send(T, acct, unknown, broken, newer, good)
    await ledger.processed(unknown, good)

    assert await ledger.transaction(f"tx-{uid}-g") is not None
    assert await ledger.transaction(f"tx-{uid}-b") is None
    dead = await _read_dlq(ledger, ledger.settings.topic_prefix + T + ".dlq", str(broken.id))
    assert "version" in dead
    dead = await _read_dlq(ledger, ledger.settings.topic_prefix + T + ".dlq", str(newer.id))
    assert "transaction.categorized.v2 is another version of" in dead
    assert await ledger.transaction(f"tx-{uid}-n") is None


async def _read_dlq(ledger: Ledger, topic: str, event_id: str) -> str:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=ledger.settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:

        async def find() -> str | None:
            for recs in (await consumer.getmany(timeout_ms=300)).values():
                for r in recs:
                    if event_id.encode() in (r.value or b""):
                        return dict(r.headers)["dlq.reason"].decode()
            return None

        return await ledger.until(find, lambda reason: reason is not None)
    finally:
        await consumer.stop()
