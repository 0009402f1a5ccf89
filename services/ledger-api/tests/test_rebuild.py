"""`bankstream ledger rebuild` and `bankstream ledger swap`, run as processes against the real broker and
database: the ledger rebuilt from its topics while the live one serves, the swap refused while the
ledger-api runs, then, with it stopped, a ledger whose rows a "bug" damaged comes back right, with the
user's edits, the carried tables and the change feed kept, and the restarted service goes on where the
rebuild stopped, applying nothing twice."""

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.groups import Groups
from bankstream_common.kafka.producer import create_producer
from bankstream_common.migrations import migrate_service
from ledger_api.adapters import rebuild_store
from ledger_api.domain import consumed as ev

from .projection_harness import (
    account_updated,
    categorized,
    item_linked,
    plaid_transaction,
    running_ledger,
    status_changed,
    sync_completed,
)

pytestmark = pytest.mark.integration

BANKSTREAM = str(Path(sys.executable).parent / "bankstream")
DAY = dt.datetime(2026, 11, 3, 8, 0, tzinfo=dt.UTC)


async def bankstream(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [BANKSTREAM, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


async def send(kafka: str, topic: str, key: str, event: Envelope) -> None:
    producer = create_producer(kafka, client_id="test-rebuild")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=event.to_json(), key=key.encode())
    finally:
        await producer.stop()


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


async def test_every_table_of_the_ledger_is_rebuilt_carried_or_bookkeeping(database_url: str) -> None:
    schema = f"ledger_tables_{uuid.uuid4().hex[:8]}"
    await migrate_service(database_url, schema, "ledger_api")
    conn = await asyncpg.connect(database_url)
    try:
        found = await rebuild_store.tables(conn, schema)
        await rebuild_store.drop_schema(conn, schema)
    finally:
        await conn.close()
    assert set(found) - set(rebuild_store.TABLES) == set(), "a new table needs a decision in rebuild_store"


async def test_a_damaged_ledger_is_rebuilt_from_its_topics_and_swapped_in(
    database_url: str, kafka_bootstrap_servers: str
) -> None:
    uid = uuid.uuid4().hex[:10]
    names = {"schema_name": f"ledger_t_{uid}", "topic_prefix": f"t{uid}.", "consumer_group": f"ledger-{uid}"}
    schema, group = names["schema_name"], names["consumer_group"]
    env = {**os.environ, "DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers}
    args = ["--schema", schema, "--group", group, "--topic-prefix", names["topic_prefix"], "--json"]
    item, user, account = f"item-{uid}", f"user-{uid}", f"acc-{uid}"
    ids = [f"tx-{uid}-{n}" for n in range(5)]

    async with running_ledger(database_url, kafka_bootstrap_servers, **names) as ledger:
        linked = item_linked(item, user, [account])
        balance = account_updated(item, account, 120.5, DAY)
        added = [
            categorized(
                "added", plaid_transaction(t, account, amount=10 + n, pending=n == 4), item_id=item,
                user_id=user, version=1,
            )
            for n, t in enumerate(ids)
        ]  # fmt: skip
        modified = categorized(
            "modified", plaid_transaction(ids[0], account, amount=99), item_id=item, user_id=user,
            version=2, primary="TRANSPORTATION", detailed="TRANSPORTATION_TAXIS",
        )  # fmt: skip
        await ledger.send(ev.TOPIC_ITEMS, item, linked)
        await ledger.send(ev.TOPIC_ACCOUNTS, account, balance)
        await ledger.send(ev.TOPIC_CATEGORIZED, account, *added, modified)
        await ledger.processed(linked, balance, *added, modified)
        # A user's edit (what PATCH writes: the locked user columns, the edit version, a feed entry).
        await ledger.pool.execute(
            """UPDATE transactions SET user_notes = 'lunch with Ana', user_tags = '{work}',
                      user_edited_at = now(), edit_version = edit_version + 1 WHERE transaction_id = $1""",
            ids[1],
        )
        await ledger.pool.execute(
            """UPDATE transactions SET user_notes = 'deposit', user_edited_at = now(),
                      edit_version = edit_version + 1 WHERE transaction_id = $1""",
            ids[4],
        )  # the pending one: its edits go to the posted one that replaces it
        await ledger.pool.execute(
            "INSERT INTO refresh_requests (item_id, requested_at) VALUES ($1, now())", item
        )
        # A projection "bug" damaged two rows: one category is wrong, one transaction is lost.
        await ledger.pool.execute(
            "UPDATE transactions SET category_primary = 'GENERAL_MERCHANDISE' WHERE transaction_id = $1",
            ids[2],
        )
        await ledger.pool.execute("DELETE FROM transactions WHERE transaction_id = $1", ids[3])
        await ledger.pool.execute("UPDATE accounts SET balance_current = 0 WHERE account_id = $1", account)
        await ledger.pool.execute("DELETE FROM balance_history WHERE account_id = $1", account)
        # A live row newer than any event the rebuild will read (as if the rebuild had refused one): it stays.
        await ledger.pool.execute(
            "UPDATE transactions SET version = 99, name = 'newer' WHERE transaction_id = $1", ids[0]
        )
        feed_before = await ledger.pool.fetch(
            "SELECT seq, txid::text, entity_id, op FROM changes ORDER BY txid, seq"
        )

        # Online: the rebuild runs beside the live ledger; a swap is refused while the service runs.
        built = await bankstream("ledger", "rebuild", *args, env=env)
        assert built.returncode == 0, built.stderr
        report = _json(built)
        assert report["resumed"] is False and report["events"] == 8 and report["gaps"] == []
        assert report["rows"]["transactions"] == 5 and report["dead_lettered"] == 0
        plan = await bankstream("ledger", "swap", "--dry-run", *args, env=env)
        assert plan.returncode == 1 and "stop the ledger-api" in _json(plan)["refusal"]
        refused = await bankstream("ledger", "swap", *args, env=env)
        assert refused.returncode == 1 and "stop the ledger-api" in refused.stderr

        # An event the live ledger applies after the rebuild began: the swap must catch up with it.
        late = categorized(
            "added", plaid_transaction(f"tx-{uid}-late", account), item_id=item, user_id=user, version=1
        )
        await ledger.send(ev.TOPIC_CATEGORIZED, account, late)
        await ledger.processed(late)

    # The ledger-api is stopped. An event arrives that nobody has applied yet: the swap's catch-up does.
    # It is the posted transaction replacing the edited pending one: the edit must reach it.
    after = categorized(
        "added", plaid_transaction(f"tx-{uid}-after", account, pending_transaction_id=ids[4]), item_id=item,
        user_id=user, version=1,
    )  # fmt: skip
    await send(kafka_bootstrap_servers, names["topic_prefix"] + ev.TOPIC_CATEGORIZED, account, after)

    swapped = await bankstream("ledger", "swap", *args, env=env)
    assert swapped.returncode == 0, swapped.stderr
    result = _json(swapped)
    assert result["rebuild"]["resumed"] is True and result["rebuild"]["events"] == 2  # late and after
    kept_as = result["swap"]["kept_as"]
    assert result["swap"]["edits_kept"] == 3 and result["swap"]["edits_carried"] == 1
    assert result["swap"]["changed"] == {"items": 0, "accounts": 1, "balance_history": 0, "transactions": 1}
    assert result["swap"]["added"] == {"items": 0, "accounts": 0, "balance_history": 1, "transactions": 2}
    assert result["swap"]["rebuilt_changes"] == {"item": 0, "account": 1, "transaction": 3}
    tables = {"items": 0, "accounts": 0, "balance_history": 0}
    assert result["swap"]["only_live"] == {**tables, "transactions": 0}

    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        rows = {r["transaction_id"]: r for r in await conn.fetch("SELECT * FROM transactions")}
        assert set(rows) == {*ids, f"tx-{uid}-late", f"tx-{uid}-after"}  # the lost one is back
        assert rows[ids[2]]["category_primary"] == "FOOD_AND_DRINK"  # the damage is undone
        assert rows[ids[0]]["name"] == "newer" and rows[ids[0]]["version"] == 99  # newer than the rebuild
        assert rows[ids[2]]["edit_version"] == 1  # a corrected row's ETag changes
        assert await conn.fetchval("SELECT balance_current FROM accounts") == Decimal("120.50")
        assert await conn.fetchval("SELECT count(*) FROM balance_history") == 1
        assert rows[ids[1]]["user_notes"] == "lunch with Ana" and rows[ids[1]]["user_tags"] == ["work"]
        assert rows[ids[1]]["edit_version"] == 1
        assert rows[f"tx-{uid}-after"]["user_notes"] == "deposit"  # carried from the pending one
        feed = await conn.fetch("SELECT seq, txid::text, entity_id, op FROM changes ORDER BY txid, seq")
        late_entries = [tuple(r) for r in feed if r["entity_id"] == f"tx-{uid}-late"]
        assert [tuple(r) for r in feed[: len(feed_before)]] == [tuple(r) for r in feed_before]  # cursors hold
        assert [(r["entity_id"], r["op"]) for r in feed[len(feed_before) + len(late_entries):]] == [
            (account, "rebuilt"), (ids[2], "rebuilt"), (ids[3], "rebuilt"), (f"tx-{uid}-after", "rebuilt")
        ]  # fmt: skip
        assert await conn.fetchval("SELECT count(*) FROM refresh_requests") == 1
        assert await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer <> $1", group) == 0
        assert await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", kept_as) == 1
        assert await conn.fetchval("SELECT to_regclass('rebuild_origin')") is None
    finally:
        await conn.close()

    async with Groups(kafka_bootstrap_servers) as kafka:
        partitions = await kafka.partitions([names["topic_prefix"] + t for t in ev.CONSUMED_TOPICS])
        moved, ends = await kafka.committed(group, partitions), await kafka.end_offsets(partitions)
    assert all(
        moved[tp] == ends[tp] for tp in partitions if ends[tp]
    )  # the live group is where the rebuild is

    # Now as if the swap had died between its commit and the offset move: the live group back where it
    # was before the swap (the offsets the kept schema holds). The service, started again, re-reads what
    # the rebuild applied past them (`after`) and its inbox skips it; the next event is applied once.
    conn = await asyncpg.connect(database_url)
    try:
        before = await conn.fetch(f"SELECT * FROM {kept_as}.swapped_at_offsets WHERE live_offset IS NOT NULL")
    finally:
        await conn.close()
    async with Groups(kafka_bootstrap_servers) as kafka:
        await kafka.move(
            group, {TopicPartition(r["topic"], r["partition"]): r["live_offset"] for r in before}
        )
    later = categorized(
        "added", plaid_transaction(f"tx-{uid}-later", account), item_id=item, user_id=user, version=1
    )
    await send(kafka_bootstrap_servers, names["topic_prefix"] + ev.TOPIC_CATEGORIZED, account, later)
    async with running_ledger(database_url, kafka_bootstrap_servers, **names) as again:
        await again.processed(later)
        assert await again.pool.fetchval("SELECT count(*) FROM transactions") == 8
        assert await again.pool.fetchval("SELECT to_regclass('swapped_at_offsets')") is None  # in kept_as
        assert again.consumed("applied") == 1 and again.consumed("duplicate") == 1  # `after`, skipped

    conn = await asyncpg.connect(database_url)
    try:
        await rebuild_store.drop_schema(conn, kept_as)
    finally:
        await conn.close()


async def test_what_retention_deleted_is_said_plainly_and_its_rows_are_carried(
    database_url: str, kafka_bootstrap_servers: str
) -> None:
    uid = uuid.uuid4().hex[:10]
    names = {"schema_name": f"ledger_t_{uid}", "topic_prefix": f"t{uid}.", "consumer_group": f"ledger-{uid}"}
    env = {**os.environ, "DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers}
    args = ["--schema", names["schema_name"], "--group", names["consumer_group"],
            "--topic-prefix", names["topic_prefix"]]  # fmt: skip
    item, user, account = f"item-{uid}", f"user-{uid}", f"acc-{uid}"
    topic = names["topic_prefix"] + ev.TOPIC_CATEGORIZED
    async with running_ledger(database_url, kafka_bootstrap_servers, **names) as ledger:
        linked = item_linked(item, user, [account])
        failing = status_changed(item, user, "login_required", DAY, code="ITEM_LOGIN_REQUIRED")
        added = [
            categorized(
                "added", plaid_transaction(f"tx-{uid}-{n}", account), item_id=item, user_id=user, version=1
            )
            for n in range(3)
        ]
        synced = sync_completed(item, DAY)
        balance = account_updated(item, account, 50.0, DAY)
        await ledger.send(ev.TOPIC_ITEMS, item, linked, failing)
        await ledger.send(ev.TOPIC_SYNC_RUNS, item, synced)
        await ledger.send(ev.TOPIC_ACCOUNTS, account, balance)
        await ledger.send(ev.TOPIC_CATEGORIZED, account, *added)  # one key: one partition, in order
        await ledger.processed(linked, failing, synced, balance, *added)
        # The live ledger lost its account (its balance event is still on the topic; its ItemLinked not).
        await ledger.pool.execute("DELETE FROM accounts WHERE account_id = $1", account)
    # Retention deletes the Item's events (as Kafka does once they are older than it), its sync run
    # excepted, and the first two transaction events: the Item's user, institution, accounts and status
    # are told by the deleted ones only.
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    await admin.start()
    try:
        async with Groups(kafka_bootstrap_servers) as kafka:
            items_topic = names["topic_prefix"] + ev.TOPIC_ITEMS
            ends = await kafka.end_offsets(await kafka.partitions([topic, items_topic]))
        (tp,) = [tp for tp, end in ends.items() if end == 3]
        (items_tp,) = [tp for tp, end in ends.items() if end == 2]
        await admin.delete_records({tp: RecordsToDelete(before_offset=2)})
        await admin.delete_records({items_tp: RecordsToDelete(before_offset=2)})
    finally:
        await admin.close()

    built = await bankstream("ledger", "rebuild", *args, env=env)
    assert built.returncode == 0, built.stderr
    assert f"{topic}: its first 2 events are gone (retention 7 days, cleanup delete)" in built.stdout
    refused = await bankstream("ledger", "swap", *args, env=env)
    assert refused.returncode == 1 and "--accept-gaps" in refused.stderr, refused.stderr
    swapped = await bankstream("ledger", "swap", *args, "--accept-gaps", "--json", env=env)
    assert swapped.returncode == 0, swapped.stderr
    swap = _json(swapped)["swap"]
    assert swap["only_live"] == {"items": 0, "accounts": 0, "balance_history": 0, "transactions": 2}
    assert swap["added"] == {"items": 0, "accounts": 1, "balance_history": 0, "transactions": 0}
    assert swap["rebuilt_changes"] == {"item": 0, "account": 1, "transaction": 0}
    conn = await asyncpg.connect(database_url, server_settings={"search_path": names["schema_name"]})
    try:
        assert await conn.fetchval("SELECT count(*) FROM transactions") == 3
        kept = await conn.fetchrow("SELECT * FROM items WHERE item_id = $1", item)
        assert kept["user_id"] == user and kept["institution_name"] == "First Platypus Bank"
        assert kept["status"] == "login_required"  # not the rebuild's "unknown": the live status is newer
        back = await conn.fetchrow("SELECT * FROM accounts WHERE account_id = $1", account)
        assert back["user_id"] == user and back["balance_current"] == Decimal("50.00")  # the live Item's user
        await rebuild_store.drop_schema(conn, swap["kept_as"])
    finally:
        await conn.close()
