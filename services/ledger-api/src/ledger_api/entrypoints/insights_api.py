"""The insights routes under /v1: spending, cash flow, net worth, recurring streams, the review queue.

Same auth as every /v1 route (`ledger:read`; a user token reads its own ledger, a service token names the
user with `?user_id=`). Acting on a review item is `PATCH /v1/transactions/{id}` (api.py).
"""

from typing import Annotated

import orjson
from bankstream_common.http_auth import Caller
from fastapi import APIRouter, Query
from fastapi.responses import Response

from ..domain.insights import Window
from ..handlers import insights
from .api import ERRORS, Deps
from .insights_schemas import (
    CashFlowOut,
    CashFlowQuery,
    NetWorthOut,
    NetWorthQuery,
    RecurringOut,
    RecurringQueryIn,
    ReviewOut,
    ReviewQueryIn,
    SpendingOut,
    SpendingQuery,
)

router = APIRouter(prefix="/v1", tags=["insights"], responses=ERRORS)


def _window(w: Window) -> dict[str, str]:
    return {"from": w.from_date.isoformat(), "to": w.to_date.isoformat()}


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/insights/spending",
    response_model=SpendingOut,
    summary="Spending by category, detailed category, merchant, month or account, with top merchants",
)
async def spending(params: Annotated[SpendingQuery, Query()], deps: Deps, who: Caller) -> Response:
    s = await insights.spending(
        deps, who, params.user_id, params.window(), params.group_by, params.flags(), params.top
    )
    return _json(
        {
            "window": _window(s.window),
            "group_by": params.group_by,
            "total": s.total,
            "count": s.count,
            "groups": s.groups,
            "top_merchants": s.top_merchants,
            "internal_transfers": s.internal_transfers,
        }
    )


@router.get(
    "/insights/cash-flow",
    response_model=CashFlowOut,
    summary="Income against expenses per month or week, and the net",
)
async def cash_flow(params: Annotated[CashFlowQuery, Query()], deps: Deps, who: Caller) -> Response:
    window, periods = await insights.cash_flow(
        deps, who, params.user_id, params.window(), params.interval, params.flags()
    )
    income = round(sum(p["income"] for p in periods), 2)
    expenses = round(sum(p["expenses"] for p in periods), 2)
    return _json(
        {
            "window": _window(window),
            "interval": params.interval,
            "periods": periods,
            "income": income,
            "expenses": expenses,
            "net": round(income - expenses, 2),
        }
    )


@router.get(
    "/insights/net-worth",
    response_model=NetWorthOut,
    summary="Assets minus liabilities per day or month, by account type, from the balance history",
)
async def net_worth(params: Annotated[NetWorthQuery, Query()], deps: Deps, who: Caller) -> Response:
    window, points = await insights.net_worth(
        deps, who, params.user_id, params.window(), params.interval, params.currency
    )
    return _json({"window": _window(window), "interval": params.interval, "points": points})


@router.get(
    "/insights/recurring",
    response_model=RecurringOut,
    summary="Recurring payments and income: subscriptions, bills, paychecks, with the next date predicted",
)
async def recurring(params: Annotated[RecurringQueryIn, Query()], deps: Deps, who: Caller) -> Response:
    as_of, streams = await insights.recurring(
        deps, who, params.user_id, params.as_of, params.lookback_days, params.currency
    )
    return _json({"as_of": as_of, "streams": streams})


@router.get(
    "/review",
    response_model=ReviewOut,
    summary="Transactions to review: fallback or low-confidence categories, new merchants",
)
async def review(params: Annotated[ReviewQueryIn, Query()], deps: Deps, who: Caller) -> Response:
    window, total, items = await insights.review(
        deps, who, params.user_id, params.window(), params.confidence_below, params.limit
    )
    return _json(
        {
            "window": _window(window),
            "total": total,
            "items": [{"transaction": orjson.Fragment(view), "reasons": why} for view, why in items],
        }
    )
