"""ledger-api's insights over a user with 100,000 transactions in a ledger of 1,000,000 rows: spending and
cash flow (p99 <= 50 ms), recurring detection (<= 1 s), each through the API next to the same SQL run
directly (asyncpg) in the same run; and the precision and recall of recurring detection against streams
planted among the user's rows.

What runs: a fresh schema migrated with ledger-api's migrations, filled server-side (generate_series,
setseed): 900,000 rows of 9,000 other users, and `bench-user`'s 100,000 over ~730 days and four accounts
(one a credit card): shopping at 5,000 merchants at random days and amounts around each merchant's own
price, and transfers between the user's own accounts (both legs); plus streams planted from
Python (seeded): weekly, biweekly, semi-monthly, monthly and annual, with amount jitter, weekend shifts,
a missed payment now and then, some stopped, some income. Indexes are built after the fill, then VACUUM
ANALYZE; ledger-api runs as a process (its console script).

Spending is also asked without top merchants (`top=0`, `insights_spending_top0_*`, reported without a
target: the target is the default request's). Each query is asked one at a time (closed loop: the
latency of one request on an idle service) 300 times through GET /v1/insights/... and 300 times as the
same SQL through asyncpg; p50/p99 of each (nearest rank: the p99 is the 297th of 300), and the CPU per
request of the ledger-api process and of the PostgreSQL backend that ran the raw SQL (/proc: the
machine's load distorts the latencies more than these). Windows: the last month, the last 12 months
(the API's default window) and the whole history (every one of the user's 100,000 rows).
--quick: 200,000 rows, 20,000 of them the user's, fewer requests.
"""

import asyncio
import os
import random
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
from bankstream_common.testing.issuer import TEST_ISSUER
from bankstream_common.testing.service_process import ServiceUnderTest, running_service
from ledger_api.adapters import insights_store as store
from ledger_api.domain.insights import GroupBy, Interval, RecurringQuery, Scope, Window
from ledger_fill import filled_ledger
from percentiles import percentile

USER = "bench-user"
END = date(2026, 11, 30)  # the user's history ends here (as_of of the recurring detection)
DAYS = 730
CADENCE_DAYS = {"weekly": 7, "biweekly": 14}


def _fill_sql(total: int, mine: int) -> str:
    """Other users' rows, then the user's: shopping (merchant m's price is 5 + (m * 37 % 300), each row
    0.6-1.4x of it), a paycheck every ~14 days, and own-account transfers (both legs, a day apart)."""
    start = END - timedelta(DAYS)
    return f"""
        SELECT setseed(0.15);
        INSERT INTO transactions (transaction_id, user_id, item_id, account_id, version, pending, amount,
            iso_currency_code, date, name, merchant_name, category_primary, category_detailed,
            category_source, category_confidence, category_decided_by)
        SELECT 'o-' || g, 'user-' || (g % 9000), 'item-' || (g % 9000), 'acc-' || (g % 9000), 1, false,
               round((random() * 200)::numeric, 2), 'USD', date '{start}' + (g % {DAYS}),
               'PURCHASE ' || (g % 5000), 'Merchant ' || (g % 5000), 'FOOD_AND_DRINK',
               'FOOD_AND_DRINK_GROCERIES', 'learned', 0.9, 'learned:x'
        FROM generate_series(1, {total - mine}) AS g;

        INSERT INTO transactions (transaction_id, user_id, item_id, account_id, version, pending, amount,
            iso_currency_code, date, name, merchant_name, category_primary, category_detailed,
            category_source, category_confidence, category_decided_by, user_hidden)
        SELECT 'u-' || g, '{USER}', 'item-u', 'acc-u' || (g % 3), 1, g % 97 = 0,
               round(((5 + (m * 37) % 300) * (0.6 + random() * 0.8))::numeric, 2), 'USD',
               date '{start}' + floor(random() * {DAYS})::int, 'POS ' || m, 'Shop ' || m,
               (ARRAY['FOOD_AND_DRINK','GENERAL_MERCHANDISE','TRANSPORTATION','ENTERTAINMENT',
                      'PERSONAL_CARE','MEDICAL'])[1 + m % 6],
               (ARRAY['FOOD_AND_DRINK_GROCERIES','GENERAL_MERCHANDISE_SUPERSTORES','TRANSPORTATION_GAS',
                      'ENTERTAINMENT_TV_AND_MOVIES','PERSONAL_CARE_HAIR_AND_BEAUTY',
                      'MEDICAL_PHARMACIES_AND_SUPPLEMENTS'])[1 + m % 6],
               'learned', 0.9, 'learned:x', g % 101 = 0
        FROM generate_series(1, {mine * 94 // 100}) AS g, LATERAL (SELECT (g * 7919) % 5000 AS m) AS mm;

        INSERT INTO transactions (transaction_id, user_id, item_id, account_id, version, pending, amount,
            iso_currency_code, date, name, merchant_name, category_primary, category_detailed,
            category_source, category_confidence, category_decided_by)
        SELECT 'x-' || g || '-' || leg, '{USER}', 'item-u',
               CASE WHEN leg = 0 THEN 'acc-u0' ELSE 'acc-u3' END, 1, false,
               CASE WHEN leg = 0 THEN a ELSE -a END, 'USD', d + leg, 'TRANSFER', NULL,
               CASE WHEN leg = 0 THEN 'LOAN_PAYMENTS' ELSE 'TRANSFER_IN' END,
               CASE WHEN leg = 0 THEN 'LOAN_PAYMENTS_CREDIT_CARD_PAYMENT'
                    ELSE 'TRANSFER_IN_ACCOUNT_TRANSFER' END,
               'learned', 0.9, 'learned:x'
        FROM generate_series(1, {mine * 5 // 200}) AS g,
             -- `+ g * 0`: a subquery naming g is drawn again for every row (else once for all)
             LATERAL (SELECT round((50 + random() * 2000 + g * 0)::numeric, 2) AS a,
                             date '{start}' + floor(random() * {DAYS} + g * 0)::int AS d) AS x,
             generate_series(0, 1) AS leg;"""


def _planted(rng: random.Random, count: int) -> tuple[list[tuple[Any, ...]], dict[str, str]]:
    """`count` streams of the user's as rows, and each stream's merchant -> its frequency."""
    rows: list[tuple[Any, ...]] = []
    truth: dict[str, str] = {}
    kinds = ["weekly", "biweekly", "semi_monthly", "monthly", "annual"]
    for k in range(count):
        kind = kinds[k % len(kinds)]
        merchant = f"Stream {k:03d}"
        income = kind in ("biweekly", "semi_monthly") and rng.random() < 0.5
        base = round(rng.uniform(5, 60) if kind == "weekly" else rng.uniform(5, 2500), 2)
        jitter = rng.choice([0.0, 0.0, 0.03])
        stop = END - timedelta(rng.choice([0, 0, 0, 120]))  # some stopped months ago
        if kind in CADENCE_DAYS:
            n = rng.randint(8, 40)
            first = stop - timedelta(CADENCE_DAYS[kind] * (n - 1) + rng.randrange(CADENCE_DAYS[kind]))
            dates = [first + timedelta(CADENCE_DAYS[kind] * i) for i in range(n)]
        elif kind == "annual":
            dates = [stop - timedelta(365 * i + rng.randint(0, 3)) for i in range(2)][::-1]
        else:
            n = rng.randint(6, 22)
            first_day = rng.randint(1, 13)  # semi-monthly: two days half a month apart (1st and 15th, ...)
            days = [first_day, first_day + rng.randint(14, 15)] if kind == "semi_monthly" else [first_day]
            dates = []
            y, m = stop.year, stop.month
            while len(dates) < n * len(days):
                for day in reversed(days):
                    d = date(y, m, day)
                    if d <= stop:
                        dates.append(d - timedelta(max(0, d.weekday() - 4)))  # weekend: the Friday before
                y, m = (y, m - 1) if m > 1 else (y - 1, 12)
            dates = sorted(dates[: n * len(days)])
        if len(dates) > 6 and rng.random() < 0.2:
            dates.pop(rng.randrange(1, len(dates) - 1))  # a missed payment
        truth[merchant] = kind
        for i, d in enumerate(dates):
            amount = round(base * (1 + rng.uniform(-jitter, jitter)), 2) * (-1 if income else 1)
            rows.append(
                (
                    f"s-{k}-{i}",
                    USER,
                    "item-u",
                    "acc-u1",
                    1,
                    False,
                    amount,
                    "USD",
                    d,
                    merchant.upper(),
                    merchant,
                    "INCOME" if income else "ENTERTAINMENT",
                    "INCOME_SALARY" if income else "ENTERTAINMENT_TV_AND_MOVIES",
                    "learned",
                    0.9,
                    "learned:x",
                )
            )
    return rows, truth


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rows(bench: str, api: list[float], sql: list[float], cpu: dict[str, float], target: str, **extra: Any):
    common = {"requests": len(api), **extra}
    return [
        {
            "bench": bench,
            "metric": "api_p50_ms",
            "value": round(percentile(api, 0.5), 2),
            "unit": "ms",
            **common,
        },
        {
            "bench": bench,
            "metric": "api_p99_ms",
            "value": round(percentile(api, 0.99), 2),
            "unit": "ms",
            "target": target,
            **common,
        },
        {
            "bench": bench,
            "metric": "sql_p50_ms",
            "value": round(percentile(sql, 0.5), 2),
            "unit": "ms",
            "note": "same SQL, asyncpg",
            **common,
        },
        {
            "bench": bench,
            "metric": "sql_p99_ms",
            "value": round(percentile(sql, 0.99), 2),
            "unit": "ms",
            "note": "same SQL, asyncpg",
            **common,
        },
        {
            "bench": bench,
            "metric": "service_cpu_ms_per_request",
            "value": round(cpu["service"], 2),
            "unit": "ms",
            "note": "ledger-api process CPU per API request",
            **common,
        },
        {
            "bench": bench,
            "metric": "postgres_cpu_ms_per_query",
            "value": round(cpu["postgres"], 2),
            "unit": "ms",
            "note": "CPU of the PostgreSQL backend running the raw SQL, per query",
            **common,
        },
    ]


async def _measure(
    http: httpx.AsyncClient,
    path: str,
    params: dict[str, Any],
    conn: asyncpg.Connection,
    backend: int,
    sql: str,
    args: list[Any],
    n: int,
    service_pid: int,
) -> tuple[list[float], list[float], dict[str, float]]:
    for _ in range(3):  # warm-up: plans, caches
        (await http.get(path, params=params)).raise_for_status()
        await conn.fetch(sql, *args)
    api: list[float] = []
    cpu0 = _cpu_seconds(service_pid)
    for _ in range(n):
        started = time.perf_counter()
        (await http.get(path, params=params)).raise_for_status()
        api.append((time.perf_counter() - started) * 1000)
    service_cpu = (_cpu_seconds(service_pid) - cpu0) * 1000 / n
    raw: list[float] = []
    cpu0 = _cpu_seconds(backend)
    for _ in range(n):
        started = time.perf_counter()
        await conn.fetch(sql, *args)
        raw.append((time.perf_counter() - started) * 1000)
    return api, raw, {"service": service_cpu, "postgres": (_cpu_seconds(backend) - cpu0) * 1000 / n}


async def _main(
    dsn: str, schema: str, port: int, pid: int, truth: dict[str, str], n: int
) -> list[dict[str, Any]]:
    token = TEST_ISSUER.token(USER, ["ledger:read"])
    # the raw SQL runs with the settings the API's transaction sets (insights_store.ROOMY)
    conn = await asyncpg.connect(
        dsn,
        server_settings={
            "search_path": schema,
            "work_mem": store.WORK_MEM,
            "plan_cache_mode": "force_custom_plan",
        },
    )
    backend = await conn.fetchval("SELECT pg_backend_pid()")
    rows: list[dict[str, Any]] = []
    windows = {
        "month": Window(END - timedelta(29), END),
        "year": Window(END - timedelta(364), END),
        "all": Window(END - timedelta(DAYS + 10), END),
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, headers=headers) as http:
        for name, w in windows.items():
            in_window = await conn.fetchval(
                "SELECT count(*) FROM transactions WHERE user_id = $1 AND date BETWEEN $2 AND $3",
                USER,
                w.from_date,
                w.to_date,
            )
            params = {"from": w.from_date.isoformat(), "to": w.to_date.isoformat()}
            scope = Scope(USER, w)
            cases = {
                "spending": (
                    "/v1/insights/spending",
                    params,
                    store.spending_sql(GroupBy.CATEGORY),
                    [*store.scope_args(scope), 5],
                ),
                # the same without top merchants (top=0: no grouping by merchant); reported, no target
                "spending_top0": (
                    "/v1/insights/spending",
                    {**params, "top": 0},
                    store.spending_sql(GroupBy.CATEGORY, merchants=False),
                    [*store.scope_args(scope), 0],
                ),
                "cash_flow": (
                    "/v1/insights/cash-flow",
                    params,
                    store.cash_flow_sql(Interval.MONTH),
                    store.scope_args(scope),
                ),
            }
            for case, (path, p, sql, args) in cases.items():
                print(f"  {case} {name} ...", file=sys.stderr, flush=True)
                api, raw, cpu = await _measure(http, path, p, conn, backend, sql, args, n, pid)
                target = "" if case == "spending_top0" else "<=50"
                rows += _rows(
                    f"ledger.insights_{case}_{name}", api, raw, cpu, target, rows_in_window=in_window
                )

        print("  recurring ...", file=sys.stderr, flush=True)
        q = RecurringQuery(USER, END)
        params = {"as_of": END.isoformat()}
        sql, args = store.RECURRING_SQL, [q.user_id, q.since, q.as_of, q.currency]
        api, raw, cpu = await _measure(
            http, "/v1/insights/recurring", params, conn, backend, sql, args, max(3, n // 50), pid
        )
        mine = await conn.fetchval("SELECT count(*) FROM transactions WHERE user_id = $1", USER)
        rows += _rows("ledger.insights_recurring", api, raw, cpu, "<=1000", user_transactions=mine)

        found = (await http.get("/v1/insights/recurring", params=params)).json()["streams"]
    await conn.close()
    right = sum(1 for f in found if truth.get(f["merchant"]) == f["frequency"])
    quality = {
        "planted": len(truth),
        "detected": len(found),
        "wrong_frequency": sum(
            1 for f in found if f["merchant"] in truth and truth[f["merchant"]] != f["frequency"]
        ),
        "decoys_detected": sum(1 for f in found if f["merchant"] not in truth),
    }
    rows += [
        {
            "bench": "ledger.insights_recurring",
            "metric": "precision",
            "value": round(right / max(1, len(found)), 3),
            "unit": "",
            **quality,
        },
        {
            "bench": "ledger.insights_recurring",
            "metric": "recall",
            "value": round(right / len(truth), 3),
            "unit": "",
            **quality,
        },
    ]
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    total, mine = (200_000, 20_000) if quick else (1_000_000, 100_000)
    n = 30 if quick else 300  # p99: the 297th of 300 (percentiles.py); of 60 it was the slowest
    uid = uuid.uuid4().hex[:8]
    schema = f"bench_insights_{uid}"
    dsn, kafka = os.environ["DATABASE_URL"], os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    planted, truth = _planted(random.Random(15), 150)

    async def fill_rows(conn: asyncpg.Connection) -> None:
        await conn.execute(_fill_sql(total, mine - len(planted)))
        await conn.copy_records_to_table(
            "transactions",
            records=planted,
            columns=[
                "transaction_id",
                "user_id",
                "item_id",
                "account_id",
                "version",
                "pending",
                "amount",
                "iso_currency_code",
                "date",
                "name",
                "merchant_name",
                "category_primary",
                "category_detailed",
                "category_source",
                "category_confidence",
                "category_decided_by",
            ],
        )

    async def prepare() -> float:
        return await filled_ledger(dsn, schema, fill_rows, ("transactions",))

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
            },
        )
        with ExitStack() as stack:
            proc = stack.enter_context(
                running_service(service, database_url=dsn, kafka_bootstrap_servers=kafka, wait=False)
            )
            # ready (see bench_ledger_api); a loaded machine starts a process slowly
            proc.wait_healthy(timeout=300, path="/readyz")
            try:
                rows = asyncio.run(_main(dsn, schema, proc.port, proc.process.pid, truth, n))
            except Exception:
                print(proc.output()[-3000:], file=sys.stderr)
                raise
    finally:
        asyncio.run(drop())
    fill = {
        "bench": "ledger.insights_fill",
        "metric": "seconds",
        "value": round(fill_s, 1),
        "unit": "s",
        "transactions": total,
        "user_transactions": mine,
        "planted_rows": len(planted),
    }
    return [fill, *rows]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
