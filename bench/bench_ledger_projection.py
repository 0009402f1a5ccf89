"""ledger-api's projection throughput in TransactionCategorized events/s, next to raw limits, same run.

Projection: N realistic TransactionCategorized events (added, then modifications, re-categorizations and
removals of earlier ones; 400 accounts of 40 Items; 6 partitions) are produced first; then ledger-api runs
in-process through bootstrap() (a fresh schema, topics and group), and the clock runs from the moment its
consumer has its partitions to the moment the inbox holds all N (each committed with its effect: the
transactions row and the change-feed row).
Raw COPY: the very rows the projection wrote (same columns and values) COPYed into the same table of
another fresh schema: what PostgreSQL alone takes to store them.
Raw consume: the N records read from the topic by a bare aiokafka consumer (no decoding): what Kafka and
the client alone take.
The bench drops its N generated envelopes before the projection starts, so the ledger runs with its own
heap only. Also: the CPU time the ledger process spent per event (`projection_cpu_us_per_event`; Python is
single-threaded, so 1e6 / that is what one uncontended core could take, PostgreSQL apart), the CPU its
PostgreSQL backends spent per event (`projection_pg_cpu_us_per_event`, from /proc: the server is local),
and what one uncontended core could take of both (`projection_one_core_events_per_s`): the load of other
tenants stretches the wall clock, much less the CPU time. Target: projection >= 10,000 events/s. The
plan of one batch's upsert (EXPLAIN ANALYZE) goes to stderr.
"""

import asyncio
import datetime as dt
import gc
import json
import os
import random
import sys
import time
import uuid
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from bankstream_common.db import create_pool
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.producer import create_producer
from bankstream_common.kafka.topics import TopicSpec, ensure_topics
from bankstream_common.migrations import migrate_service
from bankstream_common.runtime import tune_gc
from ledger_api.adapters import rebuild_store
from ledger_api.adapters.projection_store import DETAIL_EXCLUDED, UPSERT_TRANSACTIONS, batch_json
from ledger_api.bootstrap import bootstrap
from ledger_api.config import Settings
from ledger_api.domain import consumed as ev
from pg_cpu import BackendCpu
from pydantic_core import to_json

PARTITIONS = 6
ACCOUNTS = 400
ITEMS = 40
MERCHANTS = [
    ("Starbucks", "FOOD_AND_DRINK", "FOOD_AND_DRINK_COFFEE"),
    ("Uber", "TRANSPORTATION", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"),
    ("Whole Foods", "FOOD_AND_DRINK", "FOOD_AND_DRINK_GROCERIES"),
    ("Shell", "TRANSPORTATION", "TRANSPORTATION_GAS"),
    ("Netflix", "ENTERTAINMENT", "ENTERTAINMENT_TV_AND_MOVIES"),
    ("Amazon", "GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"),
]


def _transaction(tid: str, acct: str, rng: random.Random, pending: bool) -> dict[str, Any]:
    name, primary, detailed = rng.choice(MERCHANTS)
    day = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(330))
    return {
        "transaction_id": tid, "account_id": acct, "pending": pending, "pending_transaction_id": None,
        "amount": round(rng.uniform(1, 300), 2), "iso_currency_code": "USD", "unofficial_currency_code": None,
        "date": day.isoformat(), "authorized_date": day.isoformat(), "datetime": None,
        "authorized_datetime": None, "name": f"{name.upper()} #{rng.randrange(9999)}", "merchant_name": name,
        "merchant_entity_id": f"ent_{name.lower()}", "original_description": f"POS {name.upper()} CA",
        "personal_finance_category": {"primary": primary, "detailed": detailed,
                                      "confidence_level": "HIGH", "version": "v2"},
        "payment_channel": "in store", "transaction_code": None, "check_number": None,
        "location": {"city": "San Francisco", "region": "CA", "country": "US"}, "payment_meta": None,
        "counterparties": [{"name": name, "type": "merchant", "entity_id": f"ent_{name.lower()}"}],
        "website": None, "logo_url": None,
    }  # fmt: skip


def events(n: int, seed: int = 42) -> list[Envelope]:
    """85% new transactions, then modifications (10%), re-categorizations (3%) and removals (2%) of
    earlier ones, each with its next version."""
    rng = random.Random(seed)
    live: list[tuple[str, str, int, dict[str, Any]]] = []  # (tid, acct, version, transaction)
    out = []
    decided_at = dt.datetime(2026, 11, 29, tzinfo=dt.UTC).isoformat()
    for i in range(n):
        roll = rng.random()
        if roll < 0.85 or len(live) < 100:
            acct = f"acct-{rng.randrange(ACCOUNTS)}"
            tid = f"tx-{i}"
            tx = _transaction(tid, acct, rng, pending=rng.random() < 0.1)
            live.append((tid, acct, 1, tx))
            change, version = "added", 1
        else:
            k = rng.randrange(len(live))
            tid, acct, version, tx = live[k]
            version += 1
            change = "modified" if roll < 0.95 else "recategorized" if roll < 0.98 else "removed"
            if change == "removed":
                live.pop(k)
            else:
                live[k] = (tid, acct, version, {**tx, "amount": round(tx["amount"] + 1, 2)})
        item = f"item-{int(acct.split('-')[1]) % ITEMS}"
        pfc = tx["personal_finance_category"]
        data = {
            "change": change, "transaction_id": tid, "account_id": acct, "item_id": item,
            "user_id": f"user-{item}", "version": version,
            "sync_sequence": None if change == "recategorized" else i + 1, "caused_by": str(uuid.uuid4()),
            "transaction": None if change == "removed" else tx,
            "category": None if change == "removed" else {
                "primary": pfc["primary"], "detailed": pfc["detailed"], "source": "model",
                "confidence": 0.91, "decided_by": "model:tfidf-v1", "needs_review": False,
                "merchant": tx["merchant_name"].lower()},
            "decided_at": decided_at,
        }  # fmt: skip
        out.append(
            Envelope.new(
                source="bankstream/categorizer", type=ev.TRANSACTION_CATEGORIZED, subject=tid, data=data
            )
        )
    return out


async def _produce(bootstrap_servers: str, topic: str, evts: list[Envelope]) -> None:
    await ensure_topics(bootstrap_servers, [TopicSpec(topic, partitions=PARTITIONS)])
    producer = create_producer(bootstrap_servers, client_id="bench-ledger-producer", linger_ms=20)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=e.to_json(), key=e.data["account_id"].encode()) for e in evts
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _raw_consume(bootstrap_servers: str, topic: str, n: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        got, started = 0, None
        while got < n:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            if batch and started is None:
                started = time.perf_counter()
            got += sum(len(r) for r in batch.values())
        assert started is not None
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def _project(
    dsn: str, bootstrap_servers: str, prefix: str, uid: str, n: int
) -> tuple[float, float, float | None, str]:
    """Events/s, this process's CPU seconds per event (the consumer's own cost, whatever the load), and
    its PostgreSQL backends' CPU seconds per event (None when the server is not on this machine)."""
    settings = Settings(
        env="dev",
        service_name=f"bench-ledger-{uid}",  # the application_name its PostgreSQL backends are found by
        database_url=dsn,
        kafka_bootstrap_servers=bootstrap_servers,
        schema_name=f"bench_ledger_{uid}",
        topic_prefix=prefix,
        consumer_group=f"bench-ledger-{uid}",
        topic_partitions=PARTITIONS,
    )
    container = await bootstrap(settings)
    tune_gc()  # as run_service does once the service is built
    task = asyncio.create_task(container.background.run())
    try:
        await asyncio.wait_for(container.background.ready.wait(), 120)
        runner = container.background.workers[0]
        while not runner._consumer.assignment():  # noqa: ASYNC110 - the clock starts with the partitions
            await asyncio.sleep(0.01)
        # the bench polls on a connection of its own: its queries are not the ledger's PostgreSQL work
        poll = await asyncpg.connect(
            dsn, server_settings={"search_path": settings.schema_name, "application_name": "bench-poll"}
        )
        backends = await BackendCpu.start(dsn, settings.service_name)
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            while True:
                done = await poll.fetchval("SELECT count(*) FROM inbox")
                if done >= n:
                    break
                if task.done():
                    raise RuntimeError(f"ledger stopped: {task.exception()}")
                await asyncio.sleep(0.1)
        finally:
            await poll.close()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        pg = await backends.seconds()
        return n / elapsed, cpu / n, None if pg is None else pg / n, settings.schema_name
    finally:
        container.background.stop()
        await task
        await container.aclose()


async def _raw_copy(dsn: str, from_schema: str) -> float:
    """The projected rows, COPYed into the same table of a fresh schema (dropped after)."""
    schema = f"bench_ledger_raw_{uuid.uuid4().hex[:8]}"
    await migrate_service(dsn, schema, "ledger_api")
    conn = await asyncpg.connect(dsn)
    try:
        columns = await rebuild_store.stored_columns(conn, f"{from_schema}.transactions")  # not generated
        records = await conn.fetch(f"SELECT {', '.join(columns)} FROM {from_schema}.transactions")
        rows = [tuple(r.values()) for r in records]
        started = time.perf_counter()
        await conn.copy_records_to_table("transactions", records=rows, columns=columns, schema_name=schema)
        return len(rows) / (time.perf_counter() - started)
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


async def _explain(dsn: str, schema: str, evts: list[Envelope]) -> None:
    """EXPLAIN ANALYZE of one batch's upsert against the projected ledger, rolled back."""
    pool = await create_pool(dsn, schema=schema, max_size=1)
    try:
        batch = {}
        for e in evts[-1000:]:
            data = {**e.data, "version": e.data["version"] + 1000}
            batch[e.data["transaction_id"]] = to_json({"data": data})
        async with pool.acquire() as conn:
            tr = conn.transaction()
            await tr.start()
            try:
                plan = await conn.fetch(
                    "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + UPSERT_TRANSACTIONS,
                    batch_json(list(batch.values())),
                    DETAIL_EXCLUDED,
                )
            finally:
                await tr.rollback()
        print("EXPLAIN ANALYZE, one batch of 1000 upserts:", file=sys.stderr)
        print("\n".join(r[0] for r in plan), file=sys.stderr)
    finally:
        await pool.close()


async def _run(quick: bool) -> list[dict]:
    dsn, kafka = os.environ["DATABASE_URL"], os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    n = 20_000 if quick else 100_000
    uid = uuid.uuid4().hex[:8]
    prefix = f"bench{uid}."
    topic = prefix + ev.TOPIC_CATEGORIZED
    evts = events(n)
    size = sum(len(e.to_json()) for e in evts[:1000]) // 1000
    await _produce(kafka, topic, evts)
    # Keep only what the EXPLAIN needs: the N envelopes held here would be walked by every full garbage
    # collection of the ledger's own work in this process, and counted as its CPU.
    evts = evts[-1000:]
    gc.collect()
    raw_consume = await _raw_consume(kafka, topic, n)
    projected, cpu_per_event, pg_per_event, schema = await _project(dsn, kafka, prefix, uid, n)
    try:
        raw_copy = await _raw_copy(dsn, schema)
        await _explain(dsn, schema, evts)
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # 100,000 rows: not kept
        finally:
            await conn.close()
    bench = "ledger_projection"
    return [
        {"bench": bench, "metric": "projection_events_per_s", "value": round(projected), "unit": "ev/s",
         "target": ">=10000", "events": n, "event_bytes": size},
        {"bench": bench, "metric": "projection_cpu_us_per_event", "value": round(cpu_per_event * 1e6),
         "unit": "us"},
        {"bench": bench, "metric": "raw_copy_rows_per_s", "value": round(raw_copy), "unit": "rows/s"},
        {"bench": bench, "metric": "raw_consume_records_per_s", "value": round(raw_consume), "unit": "rec/s"},
        {"bench": bench, "metric": "projection_vs_raw_copy", "value": round(projected / raw_copy, 3),
         "unit": "x"},
    ] + ([] if pg_per_event is None else [
        {"bench": bench, "metric": "projection_pg_cpu_us_per_event", "value": round(pg_per_event * 1e6),
         "unit": "us", "note": "the ledger's PostgreSQL backends: inbox, upsert, change rows, commits"},
        {"bench": bench, "metric": "projection_one_core_events_per_s",
         "value": round(1 / (cpu_per_event + pg_per_event)), "unit": "ev/s",
         "note": "1 / (ledger CPU + its PostgreSQL CPU per event): one uncontended core, Kafka apart"},
    ])  # fmt: skip


def run(quick: bool = False) -> list[dict]:
    return asyncio.run(_run(quick))


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
