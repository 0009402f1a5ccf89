"""ledger-api's read API under load: GET /v1/transactions for a user with 100,000 transactions in a ledger
of 1,000,000 rows, each next to the same SQL run directly (asyncpg) in the same run; and the change feed's
catch-up rate next to its raw query.

What runs: a fresh schema migrated with ledger-api's migrations, filled server-side (INSERT ... SELECT
FROM generate_series: 1,000,000 transactions across 9,001 users, 100,000 of them `bench-user`'s, plus
100,000 of the user's changes among 100,000 of others'), the secondary indexes built after the fill,
then VACUUM ANALYZE; ledger-api as a process (its console script). Three queries, each driven open-loop
at 200 requests/s for 5 s (3 s with --quick) over 16 keep-alive connections, latency counted from each
request's scheduled start (so a stall is not hidden), after a second of the same load not counted (the
service's pool opens connections on demand: the steady state is measured), with the process's CPU per
request:
  first_page   GET /v1/transactions?limit=100                         (date desc)
  deep_page    the same, from a cursor 90,000 rows deep               (the cursor a client holds there)
  filtered     ?category=FOOD_AND_DRINK&amount_min=20&limit=100       (effective category + amount)
and the CPU the service's PostgreSQL backends spent per request (bench/pg_cpu.py; a local server), and
the same SQL (read_store.transactions_sql) through asyncpg at the same rate; GET /healthz of the same
process at the same rate (the HTTP floor: no auth, no SQL). The feed: the user's 100,000 changes read
through GET /v1/changes?limit=500 until caught up, and through its SQL directly.
Targets: p99 <= 20 ms at 200 requests/s. --quick: 200,000 rows, 20,000 of them the user's.
"""

import asyncio
import os
import sys
import time
import uuid
from contextlib import ExitStack
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
from bankstream_common.testing.issuer import TEST_ISSUER
from bankstream_common.testing.service_process import ServiceUnderTest, running_service
from ledger_api.adapters.feed_store import PAGE as FEED_SQL
from ledger_api.adapters.read_store import transactions_sql
from ledger_api.domain.categories import load as load_taxonomy
from ledger_api.domain.cursors import TransactionPosition, decode_transactions, encode_transactions
from ledger_api.domain.filters import TransactionFilter
from ledger_fill import filled_ledger
from percentiles import percentile
from pg_cpu import BackendCpu

USER = "bench-user"
RATE = 200
CATEGORIES = [
    ("FOOD_AND_DRINK", "FOOD_AND_DRINK_COFFEE"),
    ("FOOD_AND_DRINK", "FOOD_AND_DRINK_GROCERIES"),
    ("FOOD_AND_DRINK", "FOOD_AND_DRINK_RESTAURANT"),
    ("TRANSPORTATION", "TRANSPORTATION_GAS"),
    ("TRANSPORTATION", "TRANSPORTATION_PUBLIC_TRANSIT"),
    ("GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"),
    ("GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_SUPERSTORES"),
    ("RENT_AND_UTILITIES", "RENT_AND_UTILITIES_RENT"),
    ("ENTERTAINMENT", "ENTERTAINMENT_TV_AND_MOVIES"),
    ("INCOME", "INCOME_SALARY"),
    ("TRANSFER_OUT", "TRANSFER_OUT_ACCOUNT_TRANSFER"),
    ("PERSONAL_CARE", "PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS"),
]


def fill_sql(total: int, mine: int) -> str:
    primaries = ",".join(f"'{p}'" for p, _ in CATEGORIES)
    detailed = ",".join(f"'{d}'" for _, d in CATEGORIES)
    n = len(CATEGORIES)
    # the user's rows are g <= mine; the others belong to 9,000 users, ~100 rows each
    return f"""
        INSERT INTO transactions (transaction_id, user_id, item_id, account_id, version, pending, amount,
            iso_currency_code, date, name, merchant_name, original_description, category_primary,
            category_detailed, category_source, category_confidence, category_decided_by)
        SELECT 'tx-' || lpad(g::text, 8, '0'), u, 'item-' || u, 'acc-' || u || '-' || (g % 4),
               1 + g % 3, g % 50 = 0, round(((g::bigint * 7919) % 50000) / 100.0 - 50, 2), 'USD',
               date '2024-01-01' + (g * 31 % 700), 'PURCHASE ' || (g % 5000), 'Merchant ' || (g % 5000),
               'POS PURCHASE MERCHANT ' || (g % 5000),
               (ARRAY[{primaries}])[1 + g % {n}], (ARRAY[{detailed}])[1 + g % {n}], 'learned', 0.9,
               'learned:merchant ' || (g % 5000)
        FROM generate_series(1, {total}) AS g,
             LATERAL (SELECT CASE WHEN g <= {mine} THEN '{USER}' ELSE 'user-' || (g % 9000) END AS u) AS who;
        INSERT INTO changes (user_id, item_id, entity, entity_id, op, version, data)
        SELECT CASE WHEN g % 2 = 0 THEN '{USER}' ELSE 'user-' || (g % 9000) END, 'item-x', 'transaction',
               'tx-' || g, 'added', 1,
               jsonb_build_object('transaction_id', 'tx-' || g, 'amount', g % 500, 'name', 'PURCHASE ' || g,
                                  'merchant_name', 'Merchant ' || (g % 5000), 'date', '2026-11-01',
                                  'category', jsonb_build_object('primary', 'FOOD_AND_DRINK',
                                                                 'detailed', 'FOOD_AND_DRINK_COFFEE'))
        FROM generate_series(1, {2 * mine}) AS g;"""


async def _open_loop(call: Any, seconds: float) -> tuple[list[float], int]:
    """`call()` RATE times a second for `seconds`; latency from each call's scheduled start (ms)."""
    latencies: list[float] = []
    started = time.perf_counter()
    count = int(RATE * seconds)

    async def one(at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        await call()
        latencies.append((time.perf_counter() - at) * 1000)

    await asyncio.gather(*(one(started + i / RATE) for i in range(count)))
    return latencies, 0


async def _paced_http(
    port: int, request: bytes, seconds: float, connections: int = 16
) -> tuple[list[float], int]:
    """The same raw HTTP/1.1 request RATE times a second for `seconds` over `connections` keep-alive
    connections (a raw client: httpx would cost more CPU than the server on a small machine); latency from
    each request's scheduled start (ms); answers other than 200 are counted as errors."""
    count = int(RATE * seconds)
    schedule = iter(range(count))
    start = time.perf_counter() + 0.05
    latencies: list[float] = []
    errors = 0

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in schedule:
                at = start + i / RATE
                await asyncio.sleep(max(0.0, at - time.perf_counter()))
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if int(head.split(b" ", 2)[1]) != 200:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - at) * 1000)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return latencies, errors


def _get(path: str, params: dict[str, Any], token: str | None) -> bytes:
    query = f"?{urlencode(params)}" if params else ""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path}{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()


async def _deep_cursor(pool: asyncpg.Pool, query: TransactionFilter, rows: int) -> str:
    """The cursor a client holds after `rows` rows (the same encoding the API hands out; walking there
    page by page would cost the run a minute on a small machine)."""
    last = await pool.fetchrow(
        """SELECT date, transaction_id FROM transactions WHERE user_id = $1 AND NOT removed
           ORDER BY date DESC, transaction_id DESC OFFSET $2 LIMIT 1""",
        query.user_id,
        rows - 1,
    )
    position = TransactionPosition(query.sort.value, last["date"], last["transaction_id"])
    return encode_transactions(position, query.fingerprint())


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _main(
    dsn: str, port: int, pid: int, schema: str, seconds: float, deep: int, app_name: str
) -> list[dict[str, Any]]:
    base_url = f"http://127.0.0.1:{port}"
    token = TEST_ISSUER.token(USER, ["ledger:read"])
    headers = {"Authorization": f"Bearer {token}"}
    taxonomy = load_taxonomy()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    pool = await asyncpg.create_pool(dsn, min_size=8, max_size=8, server_settings={"search_path": schema})
    rows: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        base = TransactionFilter(user_id=USER).check(taxonomy)
        cursor = await _deep_cursor(pool, base, deep)
        filtered = TransactionFilter(user_id=USER, category="FOOD_AND_DRINK", amount_min=Decimal(20)).check(
            taxonomy
        )
        after = decode_transactions(cursor, sort=base.sort.value, query_hash=base.fingerprint())
        cases = {
            "first_page": ({"limit": 100}, transactions_sql(base, None, 101)),
            "deep_page": ({"limit": 100, "cursor": cursor}, transactions_sql(base, after, 101)),
            "filtered": (
                {"limit": 100, "category": "FOOD_AND_DRINK", "amount_min": "20"},
                transactions_sql(filtered, None, 101),
            ),
        }
        for name, (params, (sql, args)) in cases.items():
            check = await http.get("/v1/transactions", params=params, headers=headers)
            if check.status_code != 200 or len(check.json()["transactions"]) != 100:
                raise RuntimeError(f"{name}: {check.status_code} {check.text[:200]}")
            request = _get("/v1/transactions", params, token)

            async def sql_call(sql: str = sql, args: list[Any] = args) -> None:
                await pool.fetch(sql, *args)

            print(f"  {name} ...", file=sys.stderr, flush=True)
            for _ in range(20):  # warm-up: plans, caches
                await http.get("/v1/transactions", params=params, headers=headers)
                await sql_call()
            # and under the timed load's shape for a second, not counted: the service's pool opens its
            # connections on demand, and each prepares the statement the first time it runs it
            await _paced_http(port, request, 1.0)
            await _open_loop(sql_call, 1.0)
            backends = await BackendCpu.start(dsn, app_name)
            cpu_before = _cpu_seconds(pid)
            api, errors = await _paced_http(port, request, seconds)
            cpu_ms = (_cpu_seconds(pid) - cpu_before) * 1000 / int(RATE * seconds)
            pg_s = await backends.seconds()
            raw, _ = await _open_loop(sql_call, seconds)
            common = {
                "rate_per_s": RATE,
                "seconds": seconds,
                "requests": int(RATE * seconds),
                "errors": errors,
            }
            rows += [
                {
                    "bench": f"ledger.transactions_{name}",
                    "metric": "api_p50_ms",
                    "value": round(percentile(api, 0.5), 2),
                    "unit": "ms",
                    **common,
                },
                {
                    "bench": f"ledger.transactions_{name}",
                    "metric": "api_p99_ms",
                    "value": round(percentile(api, 0.99), 2),
                    "unit": "ms",
                    "target": "<=20",
                    **common,
                },
                {
                    "bench": f"ledger.transactions_{name}",
                    "metric": "service_cpu_ms_per_request",
                    "value": round(cpu_ms, 2),
                    "unit": "ms",
                    "note": "ledger-api process CPU over the timed phase, per request",
                    **common,
                },
                *(
                    []
                    if pg_s is None
                    else [
                        {
                            "bench": f"ledger.transactions_{name}",
                            "metric": "pg_cpu_ms_per_request",
                            "value": round(pg_s * 1000 / int(RATE * seconds), 2),
                            "unit": "ms",
                            "note": "the service's PostgreSQL backends over the timed phase, per request",
                            **common,
                        }
                    ]
                ),
                {
                    "bench": f"ledger.transactions_{name}",
                    "metric": "sql_p50_ms",
                    "value": round(percentile(raw, 0.5), 2),
                    "unit": "ms",
                    "note": "same SQL, asyncpg",
                    **common,
                },
                {
                    "bench": f"ledger.transactions_{name}",
                    "metric": "sql_p99_ms",
                    "value": round(percentile(raw, 0.99), 2),
                    "unit": "ms",
                    "note": "same SQL, asyncpg",
                    **common,
                },
            ]

        floor, _ = await _paced_http(port, _get("/healthz", {}, None), seconds)
        rows += [
            {
                "bench": "ledger.http_floor_healthz",
                "metric": metric,
                "value": round(percentile(floor, q), 2),
                "unit": "ms",
                "rate_per_s": RATE,
                "note": "GET /healthz of the same process: no auth, no SQL",
            }
            for metric, q in (("p50_ms", 0.5), ("p99_ms", 0.99))
        ]

        started, served, feed_cursor = time.perf_counter(), 0, None
        while True:
            params = {"limit": 500, **({"cursor": feed_cursor} if feed_cursor else {})}
            r = await http.get("/v1/changes", params=params, headers=headers)
            r.raise_for_status()
            page = r.json()
            served += len(page["changes"])
            feed_cursor = page["next_cursor"]
            if not page["changes"]:
                break
        api_elapsed = time.perf_counter() - started
        started, raw_served, txid, seq = time.perf_counter(), 0, "0", 0
        while True:
            page = await pool.fetch(FEED_SQL, USER, txid, seq, 500)
            if not page:
                break
            raw_served += len(page)
            txid, seq = page[-1]["position_txid"], page[-1]["seq"]
        raw_elapsed = time.perf_counter() - started
    await pool.close()
    rows += [
        {
            "bench": "ledger.change_feed_catch_up",
            "metric": "api_changes_per_s",
            "value": round(served / api_elapsed),
            "unit": "1/s",
            "changes": served,
            "page": 500,
        },
        {
            "bench": "ledger.change_feed_catch_up",
            "metric": "sql_changes_per_s",
            "value": round(raw_served / raw_elapsed),
            "unit": "1/s",
            "changes": raw_served,
            "page": 500,
            "note": "same SQL, asyncpg, rows not decoded to JSON",
        },
    ]
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    total, mine = (200_000, 20_000) if quick else (1_000_000, 100_000)
    seconds = 3.0 if quick else 5.0
    uid = uuid.uuid4().hex[:8]
    schema = f"bench_ledger_{uid}"
    dsn, kafka = os.environ["DATABASE_URL"], os.environ["KAFKA_BOOTSTRAP_SERVERS"]

    async def prepare() -> float:
        return await filled_ledger(
            dsn, schema, lambda conn: conn.execute(fill_sql(total, mine)), ("transactions", "changes")
        )

    async def drop() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await conn.close()

    try:
        fill_s = asyncio.run(prepare())
        service = ServiceUnderTest(
            script="ledger-api",
            env_prefix="LEDGER_API_",
            env={
                "LEDGER_API_SCHEMA_NAME": schema,
                "LEDGER_API_LOG_LEVEL": "WARNING",
                "LEDGER_API_TOPIC_PREFIX": f"bench{uid}.",
                "LEDGER_API_SERVICE_NAME": f"bench-ledger-api-{uid}",  # its PostgreSQL backends' name
            },
        )
        with ExitStack() as stack:
            proc = stack.enter_context(
                running_service(service, database_url=dsn, kafka_bootstrap_servers=kafka, wait=False)
            )
            # ready, not only serving: the supervisor's start (migrations, topics, the consumer joining its
            # group) must not run inside the first timed phase; a loaded machine starts a process slowly
            proc.wait_healthy(timeout=180, path="/readyz")
            try:
                rows = asyncio.run(
                    _main(
                        dsn,
                        proc.port,
                        proc.process.pid,
                        schema,
                        seconds,
                        mine * 9 // 10,
                        f"bench-ledger-api-{uid}",
                    )
                )
            except Exception:
                print(proc.output()[-3000:], file=sys.stderr)
                raise
    finally:
        asyncio.run(drop())
    fill = {
        "bench": "ledger.fill",
        "metric": "seconds",
        "value": round(fill_s, 1),
        "unit": "s",
        "transactions": total,
        "user_transactions": mine,
        "changes": 2 * mine,
    }
    return [fill, *rows]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
