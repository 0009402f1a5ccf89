"""The `bankstream` CLI, run as a process against the real broker and database: Items and their health,
dead letters inspected and replayed (chosen by type, a dry run sending nothing, a second replay applying
nothing twice), and the vault rotation brought under the same roof."""

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import jsonschema
import pytest
from bankstream_common.db import create_pool
from bankstream_common.envelope import Envelope
from bankstream_common.errors import PermanentError
from bankstream_common.kafka.consumer import ConsumerConfig, ConsumerRunner
from bankstream_common.kafka.producer import create_producer
from bankstream_common.kafka.topics import TopicSpec, dlq_topic, ensure_topics
from bankstream_common.migrations import migrate_service
from bankstream_common.pipeline_metrics import PipelineMetrics
from bankstream_common.testing.waiting import read_events, wait_until
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from link_svc.adapters import vault
from prometheus_client import CollectorRegistry
from sync_worker.domain.triggers import SYNC_REQUESTED, action_for

pytestmark = pytest.mark.integration

BANKSTREAM = str(Path(sys.executable).parent / "bankstream")
GOOD, BAD = "bankstream.test.good.v1", "bankstream.test.bad.v1"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "events"


def bankstream(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BANKSTREAM, *args],
        env=env or os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(bankstream, *args, env=env)


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


async def test_dead_letters_are_inspected_and_replayed_once_by_type(
    database_url: str, kafka_bootstrap_servers: str, uid: str
) -> None:
    topic, schema = f"admin.{uid}", f"admin_{uid}"
    await ensure_topics(kafka_bootstrap_servers, [TopicSpec(topic, partitions=2)])
    await migrate_service(database_url, schema, None)
    pool = await create_pool(database_url, schema=schema, max_size=4)
    await pool.execute("CREATE TABLE applied (event_id uuid NOT NULL, type text NOT NULL)")
    fixed = False

    async def handler(conn: asyncpg.Connection, event: Envelope) -> None:
        if event.type == BAD and not fixed:
            raise PermanentError("amount out of range")
        await conn.execute("INSERT INTO applied VALUES ($1, $2)", event.id, event.type)

    producer = create_producer(kafka_bootstrap_servers, client_id="admin-test")
    await producer.start()
    metrics = PipelineMetrics("test", CollectorRegistry())
    runner = ConsumerRunner(
        ConsumerConfig(name=f"admin-{uid}", topics=[topic], bootstrap_servers=kafka_bootstrap_servers),
        pool=pool,
        handler=handler,
        producer=producer,
        metrics=metrics,
    )
    task = asyncio.create_task(runner.run())
    try:
        events = [
            Envelope.new(source="t", type=t, subject=f"k{i}", data={}) for i, t in enumerate([GOOD, BAD, BAD])
        ]
        for e in events:
            await producer.send_and_wait(topic, value=e.to_json(), key=e.subject.encode())
        dead = dlq_topic(topic)

        async def dead_lettered() -> bool:
            listed = await cli("dlq", "inspect", dead, "--json", "--kafka", kafka_bootstrap_servers)
            return listed.returncode == 0 and len(json.loads(listed.stdout)) == 2

        await wait_until(dead_lettered, timeout=60, every=0.5)
        listed = json.loads(
            (await cli("dlq", "inspect", dead, "--json", "--kafka", kafka_bootstrap_servers)).stdout
        )
        assert {d["event_id"] for d in listed} == {str(e.id) for e in events[1:]}
        assert all(d["reason"].startswith("permanent handler error: amount out of range") for d in listed)
        assert all((d["original_topic"], d["event_type"]) == (topic, BAD) for d in listed)
        none = await cli(
            "dlq", "inspect", dead, "--json", "--reason", "no such reason", "--kafka", kafka_bootstrap_servers
        )
        assert json.loads(none.stdout) == []

        dry = await cli(
            "dlq", "replay", dead, "--type", BAD, "--dry-run", "--json", "--kafka", kafka_bootstrap_servers
        )
        assert dry.returncode == 0, dry.stderr
        assert len(json.loads(dry.stdout)["replayed"]) == 2
        await asyncio.sleep(2)  # a dry run sends nothing: nothing more is applied
        assert await pool.fetchval("SELECT count(*) FROM applied") == 1

        fixed = True  # the cause is fixed: replay, twice (an operator retrying, say)
        for _ in range(2):
            done = await cli("dlq", "replay", dead, "--type", BAD, "--kafka", kafka_bootstrap_servers)
            assert done.returncode == 0, done.stderr
            assert "replayed 2 of 2" in done.stdout
        await wait_until(lambda: _count(metrics, "duplicate", 2), timeout=60)
        rows = await pool.fetch("SELECT event_id, count(*) AS n FROM applied GROUP BY event_id")
        assert {r["event_id"]: r["n"] for r in rows} == {e.id: 1 for e in events}
    finally:
        runner.stop()
        await task
        await producer.stop()
        await pool.close()


async def _count(metrics: PipelineMetrics, outcome: str, want: float) -> bool:
    got = sum(
        s.value
        for f in metrics.consumed.collect()
        for s in f.samples
        if s.name.endswith("_total") and s.labels["outcome"] == outcome
    )
    return got == want


async def test_items_are_listed_with_their_health(database_url: str, uid: str) -> None:
    link, sync = f"adm_link_{uid}", f"adm_sync_{uid}"
    await migrate_service(database_url, link, "link_svc")
    await migrate_service(database_url, sync, "sync_worker")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"""INSERT INTO {link}.items (item_id, user_id, status) VALUES
                ('fine', 'u', 'good'), ('repair', 'u', 'login_required'), ('quiet', 'u', 'good'),
                ('gone', 'u', 'removed');
                INSERT INTO {sync}.sync_items (item_id, status, last_synced_at, failed_runs, last_error_code)
                VALUES ('fine', 'active', now(), 0, NULL),
                       ('repair', 'needs_attention', now(), 1, 'ITEM_LOGIN_REQUIRED'),
                       ('quiet', 'active', now() - interval '3 days', 0, NULL)"""
        )
    finally:
        await conn.close()
    args = ("items", "--json", "--link-schema", link, "--sync-schema", sync, "--database-url", database_url)
    listed = await cli(*args)
    assert listed.returncode == 1  # something to look at
    health = {i["item_id"]: (i["health"], i["last_error_code"]) for i in json.loads(listed.stdout)}
    assert health == {
        "fine": ("ok", None),
        "repair": ("needs_repair", "ITEM_LOGIN_REQUIRED"),
        "quiet": ("stale", None),
    }
    only = json.loads((await cli(*args, "--status", "good")).stdout)
    assert {i["item_id"] for i in only} == {"fine", "quiet"}
    table = await cli(*args[:1], *args[2:])
    assert "needs_repair" in table.stdout and "login_required" in table.stdout


async def test_the_vault_rotation_runs_under_the_same_roof(
    database_url: str, kafka_bootstrap_servers: str, uid: str
) -> None:
    schema = f"adm_vault_{uid}"
    await migrate_service(database_url, schema, "link_svc")
    k1, k2 = vault.new_key(), vault.new_key()
    old = vault.Keyring.from_encoded({"k1": k1}, "k1")
    pool = await create_pool(database_url, schema=schema, max_size=2)
    try:
        async with pool.acquire() as conn, conn.transaction():
            for i in range(3):
                await conn.execute("INSERT INTO items (item_id, user_id) VALUES ($1, 'u')", f"item-{i}")
                await vault.store(conn, f"item-{i}", old.seal(f"item-{i}", f"access-sandbox-{i}"))
        public = ec.generate_private_key(ec.SECP256R1()).public_key()
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        env = {
            **os.environ,
            "LINK_SVC_ENV": "test",
            "LINK_SVC_DATABASE_URL": database_url,
            "LINK_SVC_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
            "LINK_SVC_SCHEMA_NAME": schema,
            "LINK_SVC_VAULT_KEYS": json.dumps({"k1": k1, "k2": k2}),
            "LINK_SVC_VAULT_ACTIVE_KEY_ID": "k2",
            "LINK_SVC_JWT_PUBLIC_KEYS": json.dumps({"t": pem.decode()}),
            "PLAID_CLIENT_ID": "c",
            "PLAID_SECRET": "s-0f9c2a51",
            "PLAID_BASE_URL": "http://127.0.0.1:9",
        }
        dry = await cli("vault", "rotate", "--dry-run", env=env)
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.split() == ["k1", "3", "configured"]
        assert await pool.fetchval("SELECT count(*) FROM access_tokens WHERE key_id = 'k1'") == 3
        done = await cli("vault", "rotate", env=env)
        assert done.returncode == 0, done.stderr
        assert "rotated 3" in done.stdout and k1 not in done.stdout + done.stderr
        status = await cli("vault", "status", env=env)
        assert status.stdout.split() == ["k2", "3", "configured", "(active)"]
    finally:
        await pool.close()


async def test_an_item_is_resynced_from_its_cursor_or_from_scratch_and_a_dry_run_sends_nothing(
    database_url: str, kafka_bootstrap_servers: str, uid: str
) -> None:
    link, sync, topic = f"adm_link_{uid}", f"adm_sync_{uid}", f"admin.sync-requests.{uid}"
    await migrate_service(database_url, link, "link_svc")
    await migrate_service(database_url, sync, "sync_worker")
    await ensure_topics(kafka_bootstrap_servers, [TopicSpec(topic, partitions=2)])
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"""INSERT INTO {link}.items (item_id, user_id, status) VALUES
                ('it-{uid}', 'u-{uid}', 'good'), ('gone-{uid}', 'u-{uid}', 'removed');
                INSERT INTO {sync}.sync_items (item_id, status, cursor, last_synced_at)
                VALUES ('it-{uid}', 'active', 'cursor-7', now())"""
        )
    finally:
        await conn.close()
    where = ("--link-schema", link, "--sync-schema", sync, "--topic", topic)
    where += ("--database-url", database_url, "--kafka", kafka_bootstrap_servers)

    dry = await cli("items", "resync", f"it-{uid}", "--from-scratch", "--dry-run", "--json", *where)
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert (planned["dry_run"], planned["sent"], planned["has_cursor"]) == (True, False, True)
    assert planned["event"]["data"]["from_scratch"] is True

    asked = await cli("items", "resync", f"it-{uid}", "--json", *where)
    assert asked.returncode == 0, asked.stderr
    from_cursor = json.loads(asked.stdout)
    assert (from_cursor["sent"], from_cursor["from_scratch"]) == (True, False)
    scratch = await cli("items", "resync", f"it-{uid}", "--from-scratch", *where)
    assert scratch.returncode == 0, scratch.stderr
    assert f"asked for a sync of it-{uid} from scratch" in scratch.stdout

    removed = await cli("items", "resync", f"gone-{uid}", *where)
    assert removed.returncode == 1 and "removed" in removed.stderr
    unknown = await cli("items", "resync", f"nobody-{uid}", *where)
    assert unknown.returncode == 2 and "no Item" in unknown.stderr

    sent = await read_events(kafka_bootstrap_servers, topic, at_least=2)
    assert len(sent) == 2, "the dry run, the removed and the unknown Item sent nothing"
    assert str(sent[0].id) == from_cursor["event_id"]
    schema = json.loads((DOCS / "bankstream.sync.requested.v1.schema.json").read_text())
    for event in sent:
        jsonschema.validate(event.data, schema)
        assert (event.type, event.subject, event.data["user_id"]) == (SYNC_REQUESTED, f"it-{uid}", f"u-{uid}")
    # what the sync-worker makes of them: a run from the cursor, then one from scratch
    actions = [action_for(e.type, e.data) for e in sent]
    assert [(a.effect, a.from_scratch) for a in actions if a] == [("want", False), ("want", True)]
