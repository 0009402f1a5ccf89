"""What the pipeline bench does to a running stack (bench/pipeline_stack.py): link Items through link-svc's
API, watch a backfill land in the ledger, measure the raw floors, run the freshness load and the seed-001
baseline. Figures only; bench_pipeline.py turns them into rows."""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import statistics
import time
import uuid
from collections import defaultdict
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from bankstream_common.dev_issuer import load_or_create_private_key, mint
from bankstream_common.kafka.producer import create_producer
from bankstream_common.kafka.topics import TopicSpec, ensure_topics
from bankstream_common.migrations import migrate_service
from bankstream_devstack.run import EMULATOR_CLIENT_ID, EMULATOR_SECRET
from percentiles import percentile
from pipeline_stack import PipelineStack, database_cpu, database_cpu_delta
from raw_batches import in_batches

TRANSACTIONS_TOPIC = "bankstream.transactions"


def service_token() -> str:
    """A dev service token (the stack's own dev issuer) that links Items for any user it names."""
    scopes = ["link:write", "items:read", "items:write"]
    return mint(load_or_create_private_key(), subject="bench-pipeline", scopes=scopes, kind="service")


async def link_items(stack: PipelineStack, count: int, concurrency: int = 8) -> list[str]:
    """Link `count` Items, one user each, as a front end does: Link token, Link (the emulator's stand-in),
    then the public token to link-svc. Returns their item ids."""
    link, emulator = stack.url("link-svc"), stack.url("plaid-emulator")
    auth = {"Authorization": f"Bearer {service_token()}"}
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=120) as http:

        async def one(n: int) -> str:
            for attempt in range(3):  # a 503 (Plaid unavailable: the emulator too busy) is worth a retry
                try:
                    return await link_one(n)
                except httpx.HTTPStatusError as exc:
                    if exc.response.status_code != 503 or attempt == 2:
                        raise
                    await asyncio.sleep(1 + attempt)
            raise AssertionError("unreachable")

        async def link_one(n: int) -> str:
            user = f"bench-user-{n}"
            async with gate:
                token = await http.post(f"{link}/v1/link-tokens", json={"user_id": user}, headers=auth)
                done = await http.post(
                    f"{emulator}/link/complete",
                    json={
                        "link_token": token.raise_for_status().json()["link_token"],
                        "institution_id": "ins_109508",
                        "username": "user_good",
                        "password": "pass_good",
                    },
                )
                item = await http.post(
                    f"{link}/v1/items", json={**done.raise_for_status().json(), "user_id": user}, headers=auth
                )
                return str(item.raise_for_status().json()["item_id"])

        return list(await asyncio.gather(*(one(n) for n in range(count))))


async def watch_backfill(stack: PipelineStack, expected: int, limit_s: float = 1200) -> dict[str, Any]:
    """Seconds from the first sync call to the ledger holding `expected` rows, and checks on what landed."""
    ledger, sync = stack.schema("ledger-api"), stack.schema("sync-worker")
    conn = await asyncpg.connect(stack.dsn)
    try:
        deadline = time.monotonic() + limit_s
        while True:
            row = await conn.fetchrow(
                f"SELECT count(*) AS n, clock_timestamp() AS at FROM {ledger}.transactions"
            )
            if row["n"] >= expected:
                break
            for name, kid in stack.kids.items():
                if kid.proc is not None and kid.proc.poll() is not None:
                    raise RuntimeError(f"{name} exited during the backfill (log: {kid.log})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the ledger holds {row['n']} of {expected} after {limit_s:.0f}s")
            await asyncio.sleep(0.05)
        first_call = await conn.fetchval(f"SELECT min(started_at) FROM {sync}.sync_runs")
        check = await conn.fetchrow(
            f"""SELECT count(*) FILTER (WHERE category_primary IS NULL) AS uncategorized,
                       count(DISTINCT item_id) AS items FROM {ledger}.transactions"""
        )
        if check["uncategorized"]:
            raise RuntimeError(f"{check['uncategorized']} ledger rows without a category")
        return {
            "transactions": int(row["n"]),
            "seconds": (row["at"] - first_call).total_seconds(),
            "items": int(check["items"]),
        }
    finally:
        await conn.close()


async def _read_records(kafka: str, topic: str, n: int) -> list[tuple[bytes | None, bytes, list]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[tuple[bytes | None, bytes, list]] = []
    try:
        deadline = time.monotonic() + 300
        while len(out) < n and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                out += [(r.key, r.value, list(r.headers)) for r in records]
    finally:
        await consumer.stop()
    return out[:n]


async def _raw_kafka(kafka: str, topic: str, records: list[tuple[bytes | None, bytes, list]]) -> float:
    """Records/s of one Kafka hop: produce (idempotent, acks=all) and consume at once, until all are read."""
    await ensure_topics(kafka, [TopicSpec(topic, 6, dead_letter=False)])
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    producer = create_producer(kafka, client_id="bench-pipeline-raw")
    await consumer.start()
    await producer.start()
    try:
        while not consumer.assignment():  # noqa: ASYNC110 - the clock starts with the partitions
            await asyncio.sleep(0.01)

        async def produce() -> None:  # in record batches per partition, as the relay sends (raw_batches)
            await (await in_batches(producer, topic, records))

        started = time.perf_counter()
        sending = asyncio.create_task(produce())
        got = 0
        while got < len(records):
            got += sum(len(r) for r in (await consumer.getmany(timeout_ms=200, max_records=5000)).values())
        await sending
        return len(records) / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()


async def _raw_copy(dsn: str, from_schema: str, into_schema: str) -> float:
    """The ledger's rows COPYed into the same table of a fresh schema (dropped after)."""
    await migrate_service(dsn, into_schema, "ledger_api")
    conn = await asyncpg.connect(dsn)
    try:
        records = await conn.fetch(f"SELECT * FROM {from_schema}.transactions")
        columns = list(records[0].keys())
        rows = [tuple(r.values()) for r in records]
        del records
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "transactions", records=rows, columns=columns, schema_name=into_schema
        )
        return len(rows) / (time.perf_counter() - started)
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {into_schema} CASCADE")
        await conn.close()


async def floors(stack: PipelineStack, n: int) -> dict[str, float]:
    records = await _read_records(stack.kafka, stack.prefix + TRANSACTIONS_TOPIC, n)
    size = sum(len(v) for _, v, _ in records) // max(len(records), 1)
    kafka_rate = await _raw_kafka(stack.kafka, stack.prefix + "bench.raw", records)
    del records
    copy_rate = await _raw_copy(stack.dsn, stack.schema("ledger-api"), f"bp{stack.uid}_raw")
    return {"raw_kafka": kafka_rate, "raw_copy": copy_rate, "records": n, "record_bytes": size}


async def freshness(stack: PipelineStack, item_ids: list[str], rate: int, seconds: float) -> dict[str, Any]:
    """Open loop: every 1/rate s one Item gets one new pending transaction, which the emulator announces
    as Plaid does with two webhooks (SYNC_UPDATES_AVAILABLE and DEFAULT_UPDATE); the latency of each is
    link-svc's receipt of the SYNC_UPDATES_AVAILABLE webhook to the ledger's row."""
    ledger, link = stack.schema("ledger-api"), stack.schema("link-svc")
    pool = await asyncpg.create_pool(stack.dsn, min_size=1, max_size=2)
    assert pool is not None
    since = await pool.fetchval("SELECT clock_timestamp()")
    floor = await pool.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
    visible: dict[str, tuple[str, Any]] = {}  # transaction_id -> (item_id, when it was first seen)
    total = int(rate * seconds)
    fires: dict[str, list[dt.datetime]] = defaultdict(list)
    sent: list[tuple[str, dt.datetime]] = []

    async def poll() -> None:
        nonlocal floor
        while True:
            xmin = await pool.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
            rows = await pool.fetch(
                f"""SELECT entity_id, item_id, clock_timestamp() AS at FROM {ledger}.changes
                    WHERE txid >= $1::text::xid8 AND entity = 'transaction' AND op = 'added'""",
                floor,
            )
            for r in rows:
                visible.setdefault(r["entity_id"], (r["item_id"], r["at"]))
            floor = xmin
            await asyncio.sleep(0.02)

    cpu_before, db_before = stack.cpu_seconds(), await database_cpu(stack)
    watcher = asyncio.create_task(poll())
    try:
        # open loop: a slow answer must not hold the next call back (no pool limit, no pool timeout)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=httpx.Timeout(60, pool=None), limits=limits) as http:
            url = stack.url("plaid-emulator")
            started, calls = time.perf_counter(), []
            for n in range(total):
                await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
                item = item_ids[n % len(item_ids)]
                sent.append((item, dt.datetime.now(dt.UTC)))  # the same clock as PostgreSQL's: this machine
                calls.append(asyncio.create_task(http.post(f"{url}/emulator/items/{item}/mutate", json={})))
            answers = await asyncio.gather(*calls, return_exceptions=True)
        failed = [a for a in answers if isinstance(a, BaseException) or a.status_code != 200]
        for (item, at), answer in zip(sent, answers, strict=True):
            if not isinstance(answer, BaseException) and answer.status_code == 200:
                fires[item].append(at)
        deadline = time.monotonic() + 60
        while len(visible) < total - len(failed) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    finally:
        if watcher.done() and watcher.exception() is not None:
            raise RuntimeError("the ledger poll failed") from watcher.exception()
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    cpu = {k: v - cpu_before.get(k, 0.0) for k, v in stack.cpu_seconds().items()}
    db = database_cpu_delta(db_before, await database_cpu(stack))
    received = await pool.fetch(
        f"""SELECT item_id, received_at FROM {link}.webhook_deliveries WHERE received_at >= $1
            AND webhook_code = 'SYNC_UPDATES_AVAILABLE' ORDER BY received_at""",
        since,
    )
    await pool.close()
    hooks: dict[str, list] = defaultdict(list)
    for r in received:
        hooks[r["item_id"]].append(r["received_at"])
    rows: dict[str, list] = defaultdict(list)
    for item, at in visible.values():
        rows[item].append(at)
    latencies, from_update = [], []
    for item, fired_at in fires.items():
        # each update adds one row to its Item: the k-th row seen is the k-th update's; its webhook is the
        # first SYNC_UPDATES_AVAILABLE of that Item received after the update was made
        for fired, seen in zip(fired_at, sorted(rows[item]), strict=False):
            from_update.append((seen - fired).total_seconds() * 1000)
            after = hooks[item][bisect.bisect_left(hooks[item], fired) :]
            if after and after[0] <= seen:
                latencies.append((seen - after[0]).total_seconds() * 1000)
    if not latencies:
        raise RuntimeError(f"no freshness sample: {len(received)} webhooks, {len(visible)} rows")
    return {
        "webhooks": len(received),
        "rows_without_webhook": len(visible) - len(latencies),
        "update_to_row_p99_ms": round(percentile(from_update, 0.99), 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1),
        "never_visible": total - len(visible),
        "updates_refused": len(failed),
        "cpu_ms_per_webhook": round(sum(cpu.values()) * 1000 / total, 2),
        "cpu_by_service": {k: round(v * 1000 / total, 2) for k, v in cpu.items()},
        "db_cpu_ms_per_webhook": round(sum(db.values()) * 1000 / total, 2),
    }


async def baseline(stack: PipelineStack, items: int, per_item: int, sample: int) -> dict[str, Any]:
    """The seed-001 method over Items of the same shape: the first `sample` transactions of them."""
    from baseline_seed001 import create_items, run_baseline

    url = stack.url("plaid-emulator")
    tokens = await asyncio.to_thread(create_items, url, min(items, -(-sample // per_item)), per_item)
    schema = f"bp{stack.uid}_seed001_{uuid.uuid4().hex[:4]}"
    try:
        stored, seconds, cpu, db_cpu = await run_baseline(
            stack.dsn, schema, url, EMULATOR_CLIENT_ID, EMULATOR_SECRET, tokens, sample
        )
    finally:
        conn = await asyncpg.connect(stack.dsn)
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
    if stored < min(sample, items * per_item):
        raise RuntimeError(f"the baseline stored {stored} of {min(sample, items * per_item)}")
    return {
        "transactions": stored,
        "seconds": seconds,
        "cpu_ms_per_1000_tx": round(cpu * 1e6 / stored),
        "db_cpu_ms_per_1000_tx": round(db_cpu * 1e6 / stored),
    }
