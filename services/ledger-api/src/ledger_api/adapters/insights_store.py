"""The SQL of the insights: spending, cash flow, net worth, recurring streams and the review queue.

Every aggregate runs in PostgreSQL over the user's rows; Python only receives the groups, periods,
points or streams. The indexes they rely on are in migrations/0005_insights.sql,
0007_transfer_legs_cover.sql and 0008_amount_cents.sql; docs/ledger-api.md ("Insights") says why and gives
the EXPLAIN figures. Rows are added up in cents (`amount_cents`, a 64-bit integer: several times cheaper
to add than a numeric), and only the groups are turned back into amounts (`CENTS`).
"""

from datetime import date
from typing import Any

import asyncpg

from ..domain.insights import (
    AMOUNT_STEP_MIN,
    AMOUNT_STEP_SHARE,
    CADENCES,
    LIABILITY_TYPES,
    REGULAR_SHARE,
    TRANSFER_PAIR_DAYS,
    TRANSFER_PRIMARIES,
    GroupBy,
    Interval,
    RecurringQuery,
    ReviewQuery,
    Scope,
)
from .read_store import TX_JSON, Conn

# The aggregates over a whole history hash (or sort) up to 100,000 rows into thousands of groups: with
# the server's default work_mem (4MB) the planner chose a sort spilled to disk over a hash, three times
# slower. And they are planned for their parameters every time: after five runs of a prepared statement
# PostgreSQL may keep a generic plan, which knows neither the user nor the window; for spending it chose
# a nested-loop anti-join of 100,000 rows against the transfer legs (minutes). Both settings hold for the
# query's own transaction only (docs/ledger-api.md, "Insights: speed").
WORK_MEM = "16MB"
ROOMY = f"SET LOCAL work_mem = '{WORK_MEM}'; SET LOCAL plan_cache_mode = force_custom_plan"


async def _fetch_roomy(pool: asyncpg.Pool, sql: str, *args: Any) -> list[asyncpg.Record]:
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(ROOMY)
        return list(await conn.fetch(sql, *args))


# A sum of cents as an amount (numeric(20,2): exact, two decimals).
CENTS = "({} / 100.0)::numeric(20, 2)"

_TRANSFERS = ", ".join(f"'{p}'" for p in TRANSFER_PRIMARIES)
_LIABILITIES = ", ".join(f"'{t}'" for t in LIABILITY_TYPES)

# The user's rows an aggregate counts ($4 pending too, $5 hidden too, $6 currency), read index-only
# (transactions_user_insights).
SCOPE = """user_id = $1 AND date BETWEEN $2 AND $3 AND NOT removed
    AND ($4 OR NOT pending) AND ($5 OR NOT user_hidden) AND iso_currency_code = $6"""

# The legs of transfers between the user's own accounts in the scope: a row of a transfer category with
# the opposite amount on another of the user's accounts within TRANSFER_PAIR_DAYS. Only transfer-category
# rows are paired (an index-only scan of transactions_user_transfer_legs, which holds every column an
# aggregate reads, then a hash join on the amount), so the pairing costs little however many rows the
# window holds. A leg is paired with any other leg, in the scope or not.
#
# They are not left out of the aggregates row by row (an anti-join probes a hash of the legs' ids for
# each of up to 100,000 rows): each aggregate adds up every row of the scope, then subtracts the same
# aggregate of `internal`. Sums and counts are exact, so the difference is the sum over the rows counted.
INTERNAL = f"""
legs AS (
    SELECT transaction_id, account_id, amount, (amount * 100)::bigint AS amount_cents, date, pending,
           user_hidden, iso_currency_code, category_primary, user_category_primary, category_detailed,
           user_category_detailed, merchant_name, name
    FROM transactions
    WHERE user_id = $1 AND NOT removed
      AND COALESCE(user_category_primary, category_primary) IN ({_TRANSFERS})
      AND date BETWEEN $2::date - {TRANSFER_PAIR_DAYS} AND $3::date + {TRANSFER_PAIR_DAYS}
),
internal AS MATERIALIZED (
    SELECT a.* FROM legs a
    WHERE a.date BETWEEN $2 AND $3 AND ($4 OR NOT a.pending) AND ($5 OR NOT a.user_hidden)
      AND a.iso_currency_code = $6 AND a.amount <> 0 AND EXISTS (
        SELECT 1 FROM legs b
        WHERE b.amount = -a.amount AND b.account_id <> a.account_id
          AND b.date BETWEEN a.date - {TRANSFER_PAIR_DAYS} AND a.date + {TRANSFER_PAIR_DAYS})
)"""  # noqa: S608  (constants of domain.insights, never input)

# Each grouping's key per row, and the key of the answer's groups: a month is grouped by the day first
# (a date hashes as an integer), and the few hundred days are then formatted, not every row.
GROUP_KEYS = {
    GroupBy.CATEGORY: ("COALESCE(user_category_primary, category_primary)", "g"),
    GroupBy.DETAILED_CATEGORY: ("COALESCE(user_category_detailed, category_detailed)", "g"),
    GroupBy.MERCHANT: ("COALESCE(merchant_name, name)", "g"),
    GroupBy.MONTH: ("date", "to_char(g, 'YYYY-MM')"),
    GroupBy.ACCOUNT: ("account_id", "g"),
}


def scope_args(s: Scope) -> list[Any]:
    return [s.user_id, s.window.from_date, s.window.to_date, s.include_pending, s.include_hidden, s.currency]


def spending_sql(group_by: GroupBy, *, merchants: bool = True) -> str:
    """$7: how many top merchants. One row per group (`part` 'group'), per top merchant ('merchant') and
    one 'internal' row: the legs of transfers between own accounts left out, counted once per leg. The
    groups and the merchants come from ONE scan (GROUPING SETS), less the same of the legs. The merchants
    are a grouping of their own only when they are asked for (`merchants`) and the groups are not the
    merchants already: grouped by merchant, the top merchants are the first groups."""
    key, group = GROUP_KEYS[group_by]
    merchant = GROUP_KEYS[GroupBy.MERCHANT][0]
    apart = merchants and group_by is not GroupBy.MERCHANT
    m, sets = (merchant, "(g), (m)") if apart else ("NULL::text", "(g, m)")  # m: NULL, one set
    top = "by_merchant = 1" if apart else "by_merchant = 0"  # the merchants' rows, or the groups'
    top_key = "m" if apart else "g"
    return f"""
WITH {INTERNAL},
legs_in_scope AS (SELECT {key} AS g, {m} AS m, amount_cents AS cents FROM internal),
signed AS (
    SELECT GROUPING(g) AS by_merchant, g, m, sum(cents) AS total, count(*) AS count
    FROM (SELECT {key} AS g, {m} AS m, amount_cents AS cents FROM transactions
          WHERE {SCOPE} AND amount_cents > 0) AS spent
    GROUP BY GROUPING SETS ({sets})
    UNION ALL
    SELECT GROUPING(g), g, m, -sum(cents), -count(*) FROM legs_in_scope WHERE cents > 0
    GROUP BY GROUPING SETS ({sets})
),
sums AS MATERIALIZED (
    SELECT by_merchant, CASE WHEN by_merchant = 0 THEN {group} END AS g, m,
           {CENTS.format("sum(total)")} AS total, sum(count)::bigint AS count
    FROM signed GROUP BY 1, 2, 3 HAVING sum(count) > 0
)
(SELECT 'group' AS part, g AS key, total, count FROM sums WHERE by_merchant = 0
 ORDER BY total DESC, g NULLS LAST)
UNION ALL
(SELECT 'merchant', {top_key}, total, count FROM sums WHERE {top}
 ORDER BY total DESC, {top_key} NULLS LAST LIMIT $7)
UNION ALL
(SELECT 'internal', NULL, {CENTS.format("COALESCE(sum(abs(cents)), 0)")}, count(*) FROM legs_in_scope)"""  # noqa: S608


async def spending(pool: asyncpg.Pool, s: Scope, group_by: GroupBy, top: int) -> list[asyncpg.Record]:
    return await _fetch_roomy(pool, spending_sql(group_by, merchants=top > 0), *scope_args(s), top)


async def account_names(db: Conn, user_id: str, account_ids: list[str]) -> dict[str, str | None]:
    rows = await db.fetch(
        "SELECT account_id, name FROM accounts WHERE user_id = $1 AND account_id = ANY($2::text[])",
        user_id,
        account_ids,
    )
    return {r["account_id"]: r["name"] for r in rows}


def cash_flow_sql(interval: Interval) -> str:
    """One row per period of the window (empty ones too): income (money in), expenses (money out). Rows
    are added up per day, then the days per period: a date hashes as an integer, while date_trunc
    converts every row to a timestamp in the session's time zone (a third of the query's time)."""
    unit = interval.value
    return f"""
WITH {INTERNAL},
periods AS (
    SELECT p::date AS start, LEAST((p + interval '1 {unit}')::date - 1, $3::date) AS "end"
    FROM generate_series(date_trunc('{unit}', $2::date), $3::date, interval '1 {unit}') AS p
),
days AS (
    SELECT date, sum(-amount_cents) FILTER (WHERE amount_cents < 0) AS income,
           sum(amount_cents) FILTER (WHERE amount_cents > 0) AS expenses, count(*) AS count
    FROM transactions WHERE {SCOPE} GROUP BY date
    UNION ALL
    SELECT date, sum(amount_cents) FILTER (WHERE amount_cents < 0),
           -sum(amount_cents) FILTER (WHERE amount_cents > 0), -count(*)
    FROM internal GROUP BY date
),
sums AS (
    SELECT date_trunc('{unit}', date)::date AS start, {CENTS.format("sum(income)")} AS income,
           {CENTS.format("sum(expenses)")} AS expenses, sum(count)::bigint AS count
    FROM days GROUP BY 1
)
SELECT GREATEST(p.start, $2::date) AS start, p."end", COALESCE(s.income, 0) AS income,
       COALESCE(s.expenses, 0) AS expenses, COALESCE(s.count, 0) AS count
FROM periods p LEFT JOIN sums s ON s.start = p.start ORDER BY p.start"""  # noqa: S608


async def cash_flow(pool: asyncpg.Pool, s: Scope, interval: Interval) -> list[asyncpg.Record]:
    return await _fetch_roomy(pool, cash_flow_sql(interval), *scope_args(s))


def net_worth_sql(interval: Interval) -> str:
    """Per point (each day, or each month's last day and `to`) and account type: the sum of the latest
    balance_current known on or before that day of each of the user's accounts in the currency, while its
    Item was not removed. $1 user, $2..$3 window, $4 currency."""
    if interval is Interval.DAY:
        points = "SELECT d::date AS day FROM generate_series($2::date, $3::date, interval '1 day') AS d"
    else:
        points = """SELECT LEAST((d + interval '1 month')::date - 1, $3::date) AS day
                    FROM generate_series(date_trunc('month', $2::date), $3::date, interval '1 month') AS d"""
    return f"""
WITH points AS ({points}),
accts AS (
    SELECT a.account_id, COALESCE(a.type, 'other') AS type, i.removed_at
    FROM accounts a LEFT JOIN items i ON i.item_id = a.item_id
    WHERE a.user_id = $1 AND a.iso_currency_code = $4
)
SELECT p.day, a.type, a.type IN ({_LIABILITIES}) AS liability, sum(b.balance_current) AS balance,
       count(b.balance_current) AS accounts
FROM points p CROSS JOIN accts a
CROSS JOIN LATERAL (
    SELECT h.balance_current FROM balance_history h
    WHERE h.account_id = a.account_id AND h.day <= p.day ORDER BY h.day DESC LIMIT 1
) b
WHERE a.removed_at IS NULL OR p.day < a.removed_at::date
GROUP BY p.day, a.type ORDER BY p.day, a.type"""  # noqa: S608


async def net_worth(
    db: Conn, user_id: str, from_day: date, to_day: date, interval: Interval, currency: str
) -> list[asyncpg.Record]:
    return list(await db.fetch(net_worth_sql(interval), user_id, from_day, to_day, currency))


def _cadence_sql() -> tuple[str, str, str]:
    """From domain.insights.CADENCES: the VALUES list, and the per-cadence on-time gap counts."""
    values = ",\n        ".join(
        f"('{c.name}', {c.split_mean[0]}, {c.split_mean[1]}, {c.min_occurrences}, interval '{c.step}', "
        f"{c.grace_days}, {c.max_spread})"
        for c in CADENCES
    )
    fits = ",\n           ".join(
        f"count(*) FILTER (WHERE gap BETWEEN {c.gap_range[0]} AND {c.gap_range[1]}) AS fit_{c.name}"
        for c in CADENCES
    )
    fit_of = " ".join(f"WHEN '{c.name}' THEN s.fit_{c.name}" for c in CADENCES)
    return values, fits, f"CASE c.name {fit_of} END"


def recurring_sql() -> str:
    """Recurring streams of the user's posted rows in (since, as_of]: $1 user, $2 since, $3 as_of,
    $4 currency. Window functions group a merchant's rows into amount clusters (sorted by size, a step
    beyond the tolerance starts a cluster), then order each cluster by date for its gaps; one aggregate
    pass (over rows already in cluster order: no sort) counts the gaps that fit each cadence; a join picks
    the cadence most gaps fit. Keys sort as bytes (COLLATE "C"): a linguistic sort of 100,000 names
    costs several times more and means nothing here."""
    values, fits, fit_of = _cadence_sql()
    return f"""
WITH base AS (
    SELECT transaction_id, date, abs(amount_cents) AS cents, abs(amount_cents)::float8 / 100 AS size,
           amount_cents > 0 AS outflow,
           account_id,
           COALESCE(merchant_name, name) AS merchant,
           COALESCE(lower(merchant_name),
                    btrim(regexp_replace(lower(name), '[^a-z]+', ' ', 'g'))) COLLATE "C" AS key,
           COALESCE(user_category_primary, category_primary) AS category
    FROM transactions
    WHERE user_id = $1 AND NOT removed AND NOT pending AND NOT user_hidden AND amount_cents <> 0
      AND date > $2 AND date <= $3 AND iso_currency_code = $4
),
steps AS (
    SELECT *, CASE WHEN size - lag(size) OVER w > GREATEST(lag(size) OVER w * {AMOUNT_STEP_SHARE},
                                                             {AMOUNT_STEP_MIN})
                   THEN 1 ELSE 0 END AS step
    FROM base WHERE key <> ''
    WINDOW w AS (PARTITION BY key, outflow ORDER BY size, transaction_id)
),
clusters AS (
    SELECT *, sum(step) OVER (PARTITION BY key, outflow ORDER BY size, transaction_id
                              ROWS UNBOUNDED PRECEDING) AS cluster
    FROM steps
),
gaps AS (
    SELECT *, date - lag(date) OVER w AS gap, lead(date) OVER w IS NULL AS is_last,
           lead(date, 2) OVER w IS NULL AND lead(date) OVER w IS NOT NULL AS is_previous
    FROM clusters
    WINDOW w AS (PARTITION BY key, outflow, cluster ORDER BY date, transaction_id)
),
streams AS (
    SELECT key, outflow, cluster, count(*) AS occurrences, min(date) AS first_date, max(date) AS last_date,
           max(date) FILTER (WHERE is_previous) AS previous_date,
           avg(cents) / 100 AS average_amount, min(size) AS smallest, max(size) AS largest,
           max(cents) FILTER (WHERE is_last) AS last_cents,
           max(transaction_id) FILTER (WHERE is_last) AS last_transaction_id,
           max(merchant) FILTER (WHERE is_last) AS merchant,
           max(category) FILTER (WHERE is_last) AS category,
           max(account_id) FILTER (WHERE is_last) AS account_id,
           avg(gap) FILTER (WHERE gap BETWEEN 12 AND 19) AS mean_half_month_gap,
           count(gap) AS gaps,
           {fits}
    FROM gaps GROUP BY key, outflow, cluster HAVING count(*) >= 2
),
cadences (name, mean_min, mean_max, min_occurrences, step, grace, max_spread) AS (
    VALUES
        {values}
),
classified AS (
    SELECT s.*, c.name AS frequency, c.grace,
           -- at most the last day a client's date type holds (a stream ending late in 9999 was a 500)
           LEAST(CASE WHEN c.name = 'semi_monthly' AND s.previous_date IS NOT NULL
                      THEN GREATEST((s.previous_date + c.step)::date, s.last_date + 1)
                      ELSE (s.last_date + c.step)::date END, DATE '9999-12-31') AS next_date
    FROM streams s JOIN cadences c
      ON COALESCE(s.mean_half_month_gap, 0) >= c.mean_min AND COALESCE(s.mean_half_month_gap, 0) < c.mean_max
    WHERE s.occurrences >= c.min_occurrences
      AND {fit_of} >= {REGULAR_SHARE} * s.gaps
      AND s.largest <= c.max_spread * s.smallest
)
SELECT merchant, key, CASE WHEN outflow THEN 'outflow' ELSE 'inflow' END AS direction, frequency,
       category, account_id, occurrences, first_date, last_date, next_date,
       round(average_amount, 2) AS average_amount, {CENTS.format("last_cents")} AS last_amount,
       last_transaction_id,
       $3::date <= next_date + grace AS active
FROM classified
ORDER BY outflow, average_amount DESC, key"""  # noqa: S608


RECURRING_SQL = recurring_sql()


async def recurring(pool: asyncpg.Pool, q: RecurringQuery) -> list[asyncpg.Record]:
    return await _fetch_roomy(pool, RECURRING_SQL, q.user_id, q.since, q.as_of, q.currency)


# The review queue: the user's rows in the window the user has not categorized themselves, decided by
# fallback, flagged by the categorizer, less sure than $4, or the first row ever of a merchant (for each
# merchant of the window, its first row is one probe of transactions_user_merchant, read in order and
# stopped at once; a NOT EXISTS per row was planned as a scan of every earlier row, minutes for 13,000).
REVIEW_SQL = f"""
WITH window_rows AS MATERIALIZED (
    SELECT t.* FROM transactions t
    WHERE t.user_id = $1 AND t.date BETWEEN $2 AND $3 AND NOT t.removed AND NOT t.user_hidden
      AND t.user_category_detailed IS NULL
),
firsts AS (
    SELECT f.transaction_id
    FROM (SELECT DISTINCT COALESCE(merchant_name, name) AS merchant FROM window_rows) AS m,
    LATERAL (
        SELECT e.transaction_id FROM transactions e
        WHERE e.user_id = $1 AND NOT e.removed AND COALESCE(e.merchant_name, e.name) = m.merchant
        ORDER BY e.date, e.transaction_id LIMIT 1
    ) AS f
),
flagged AS (
    SELECT w.*, w.category_source = 'fallback' AS fallback,
           COALESCE(w.category_confidence < $4, false) AS low_confidence,
           w.category_needs_review AS flagged,
           w.transaction_id IN (SELECT transaction_id FROM firsts) AS new_merchant
    FROM window_rows w
)
SELECT transactions.transaction_id, transactions.date, fallback, low_confidence, flagged, new_merchant,
       {TX_JSON} AS view, count(*) OVER () AS total
FROM flagged AS transactions
WHERE fallback OR low_confidence OR flagged OR new_merchant
ORDER BY transactions.date DESC, transactions.transaction_id DESC LIMIT $5"""  # noqa: S608


async def review(db: Conn, q: ReviewQuery) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            REVIEW_SQL, q.user_id, q.window.from_date, q.window.to_date, q.confidence_below, q.limit
        )
    )
