"""Insights: spending, cash flow, net worth, recurring streams, the review queue.

Each checks the caller (`ledger:read`, the acting user), resolves the window, and asks PostgreSQL for the
aggregate (adapters/insights_store.py); Python only shapes the groups, periods, points or streams.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from bankstream_common.auth import Principal

from ..adapters import insights_store as store
from ..domain.insights import GroupBy, Interval, RecurringQuery, ReviewQuery, Scope, Window
from .context import READ, Deps, acting_user


def today() -> date:
    return datetime.now(UTC).date()


def _money(value: Decimal | None) -> float:
    return float(value or 0)


@dataclass(frozen=True)
class Spending:
    window: Window
    total: float
    count: int
    groups: list[dict[str, Any]]
    top_merchants: list[dict[str, Any]]
    internal_transfers: dict[str, Any]


async def spending(
    deps: Deps,
    who: Principal,
    user_id: str | None,
    window: tuple[date | None, date | None],
    group_by: GroupBy,
    flags: dict[str, Any],
    top: int,
) -> Spending:
    scope = Scope(acting_user(who, READ, user_id), Window.of(*window, today()), **flags)
    rows = await store.spending(deps.pool, scope, group_by, top)
    groups = [r for r in rows if r["part"] == "group"]
    total = sum((r["total"] for r in groups), Decimal(0))
    labels: dict[str, str | None] = {}
    if group_by is GroupBy.ACCOUNT:
        labels = await store.account_names(deps.pool, scope.user_id, [r["key"] for r in groups])

    def share(value: Decimal) -> float:
        return round(float(value / total), 4) if total else 0.0

    internal = next(r for r in rows if r["part"] == "internal")
    return Spending(
        scope.window,
        _money(total),
        sum(r["count"] for r in groups),
        [
            {
                "key": r["key"],
                **({"label": labels.get(r["key"])} if group_by is GroupBy.ACCOUNT else {}),
                "total": _money(r["total"]),
                "count": r["count"],
                "share": share(r["total"]),
            }
            for r in groups
        ],
        [
            {
                "merchant": r["key"],
                "total": _money(r["total"]),
                "count": r["count"],
                "share": share(r["total"]),
            }
            for r in rows
            if r["part"] == "merchant"
        ],
        {"total": _money(internal["total"]), "count": internal["count"]},
    )


async def cash_flow(
    deps: Deps,
    who: Principal,
    user_id: str | None,
    window: tuple[date | None, date | None],
    interval: Interval,
    flags: dict[str, Any],
) -> tuple[Window, list[dict[str, Any]]]:
    scope = Scope(acting_user(who, READ, user_id), Window.of(*window, today()), **flags)
    rows = await store.cash_flow(deps.pool, scope, interval)
    return scope.window, [
        {
            "start": r["start"],
            "end": r["end"],
            "income": _money(r["income"]),
            "expenses": _money(r["expenses"]),
            "net": _money(r["income"] - r["expenses"]),
            "count": r["count"],
        }
        for r in rows
    ]


async def net_worth(
    deps: Deps,
    who: Principal,
    user_id: str | None,
    window: tuple[date | None, date | None],
    interval: Interval,
    currency: str,
) -> tuple[Window, list[dict[str, Any]]]:
    user = acting_user(who, READ, user_id)
    w = Window.of(*window, today())
    rows = await store.net_worth(deps.pool, user, w.from_date, w.to_date, interval, currency)
    points: dict[date, dict[str, Any]] = defaultdict(
        lambda: {"assets": Decimal(0), "liabilities": Decimal(0), "by_type": {}, "accounts": 0}
    )
    for r in rows:  # one row per point and account type, not per transaction
        p = points[r["day"]]
        p["liabilities" if r["liability"] else "assets"] += r["balance"] or 0
        p["by_type"][r["type"]] = _money(r["balance"])
        p["accounts"] += r["accounts"]
    return w, [
        {
            "date": day,
            "assets": _money(p["assets"]),
            "liabilities": _money(p["liabilities"]),
            "net_worth": _money(p["assets"] - p["liabilities"]),
            "by_type": p["by_type"],
            "accounts": p["accounts"],
        }
        for day, p in sorted(points.items())
    ]


async def recurring(
    deps: Deps, who: Principal, user_id: str | None, as_of: date | None, lookback_days: int, currency: str
) -> tuple[date, list[dict[str, Any]]]:
    q = RecurringQuery(acting_user(who, READ, user_id), as_of or today(), lookback_days, currency)
    rows = await store.recurring(deps.pool, q)
    return q.as_of, [
        {
            **{k: r[k] for k in ("merchant", "direction", "frequency", "category", "account_id")},
            **{k: r[k] for k in ("occurrences", "first_date", "last_date", "next_date", "active")},
            "average_amount": _money(r["average_amount"]),
            "last_amount": _money(r["last_amount"]),
            "last_transaction_id": r["last_transaction_id"],
        }
        for r in rows
    ]


REASONS = ("fallback", "low_confidence", "flagged", "new_merchant")


async def review(
    deps: Deps,
    who: Principal,
    user_id: str | None,
    window: tuple[date | None, date | None],
    confidence_below: float,
    limit: int,
) -> tuple[Window, int, list[tuple[str, list[str]]]]:
    """The window, how many rows wait for review in it, and a page of them (newest first): each one's
    JSON (built by PostgreSQL) and why it is there."""
    q = ReviewQuery(acting_user(who, READ, user_id), Window.of(*window, today()), confidence_below, limit)
    rows = await store.review(deps.pool, q)
    total = rows[0]["total"] if rows else 0
    return q.window, total, [(r["view"], [k for k in REASONS if r[k]]) for r in rows]
