"""What the insights routes accept (strict query models: an unknown parameter is a 422) and answer
(response models with examples). Amounts are positive numbers in the answer; which way the money went is
in the field's name (income, expenses) or in `direction`."""

from datetime import date
from typing import Annotated, Any, Literal

from bankstream_common.http_models import RequestModel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..domain.insights import DEFAULT_LOOKBACK_DAYS, REVIEW_CONFIDENCE_BELOW, GroupBy, Interval
from .schemas import TRANSACTION_EXAMPLE, Id, TransactionOut

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]

FROM = "first date included (YYYY-MM-DD); default: 365 days before `to`"
TO = "last date included (YYYY-MM-DD); default: today (UTC), or 365 days after `from`"


class WindowQuery(RequestModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    user_id: Id | None = Field(None, description="the user to read; service tokens only (and required)")
    from_date: date | None = Field(None, alias="from", description=FROM)
    to_date: date | None = Field(None, alias="to", description=TO)

    def window(self) -> tuple[date | None, date | None]:
        return self.from_date, self.to_date


class ScopeQuery(WindowQuery):
    currency: Currency = Field("USD", description="only transactions in this ISO currency are counted")
    include_pending: bool = Field(False, description="count pending transactions too")
    include_hidden: bool = Field(False, description="count transactions the user hid too")

    def flags(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "include_pending": self.include_pending,
            "include_hidden": self.include_hidden,
        }


class SpendingQuery(ScopeQuery):
    group_by: GroupBy = Field(GroupBy.CATEGORY, description="the EFFECTIVE category (the user's edit first)")
    top: int = Field(5, ge=0, le=50, description="how many top merchants (0: none, and a faster answer)")


class CashFlowQuery(ScopeQuery):
    interval: Interval = Field(Interval.MONTH, description="`month` or `week` (ISO weeks, from Monday)")


class NetWorthQuery(WindowQuery):
    interval: Interval = Field(Interval.MONTH, description="`day` or `month` (each month's last day)")
    currency: Currency = Field("USD", description="only accounts in this ISO currency are counted")


class RecurringQueryIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Id | None = Field(None, description="the user to read; service tokens only (and required)")
    as_of: date | None = Field(None, description="the day to judge from (default today, UTC)")
    lookback_days: int = Field(DEFAULT_LOOKBACK_DAYS, ge=30, le=3660, description="history looked at")
    currency: Currency = "USD"


class ReviewQueryIn(WindowQuery):
    confidence_below: float = Field(
        REVIEW_CONFIDENCE_BELOW, ge=0, le=1, description="a categorizer decision less sure than this"
    )
    limit: int = Field(100, ge=1, le=500)


class WindowOut(BaseModel):
    from_date: date = Field(alias="from")
    to_date: date = Field(alias="to")


class SpendingGroup(BaseModel):
    key: str | None = Field(description="the category, merchant, month (YYYY-MM) or account_id")
    label: str | None = Field(None, description="group_by=account: the account's name")
    total: float = Field(description="money out, positive")
    count: int
    share: float = Field(description="this group's part of the window's total spending (0..1)")


class MerchantTotal(BaseModel):
    merchant: str | None
    total: float
    count: int
    share: float


class InternalTransfers(BaseModel):
    total: float = Field(description="both legs of each transfer between own accounts, summed as positive")
    count: int


class SpendingOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "window": {"from": "2026-11-01", "to": "2026-11-30"},
                    "group_by": "category",
                    "total": 1250.0,
                    "count": 42,
                    "groups": [
                        {"key": "FOOD_AND_DRINK", "total": 750.0, "count": 30, "share": 0.6},
                        {"key": "RENT_AND_UTILITIES", "total": 500.0, "count": 12, "share": 0.4},
                    ],
                    "top_merchants": [
                        {"merchant": "Whole Foods", "total": 410.5, "count": 9, "share": 0.3284}
                    ],
                    "internal_transfers": {"total": 1000.0, "count": 2},
                }
            ]
        }
    )

    window: WindowOut
    group_by: GroupBy
    total: float = Field(description="money out in the window (Plaid's positive amounts), transfers excluded")
    count: int
    groups: list[SpendingGroup]
    top_merchants: list[MerchantTotal]
    internal_transfers: InternalTransfers = Field(description="left out: transfers between own accounts")


class CashFlowPeriod(BaseModel):
    start: date
    end: date
    income: float = Field(description="money in (Plaid's negative amounts), as a positive number")
    expenses: float = Field(description="money out (Plaid's positive amounts)")
    net: float = Field(description="income - expenses")
    count: int


class CashFlowOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "window": {"from": "2026-10-01", "to": "2026-11-30"},
                    "interval": "month",
                    "periods": [
                        {
                            "start": "2026-10-01",
                            "end": "2026-10-31",
                            "income": 4200.0,
                            "expenses": 3100.5,
                            "net": 1099.5,
                            "count": 61,
                        }
                    ],
                    "income": 4200.0,
                    "expenses": 3100.5,
                    "net": 1099.5,
                }
            ]
        }
    )

    window: WindowOut
    interval: Interval
    periods: list[CashFlowPeriod]
    income: float
    expenses: float
    net: float


class NetWorthPoint(BaseModel):
    date: date
    assets: float
    liabilities: float = Field(description="what is owed on credit and loan accounts, positive")
    net_worth: float = Field(description="assets - liabilities")
    by_type: dict[str, float] = Field(description="the balances summed per account type")
    accounts: int = Field(description="accounts with a known balance on or before that day")


class NetWorthOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "window": {"from": "2026-09-01", "to": "2026-11-30"},
                    "interval": "month",
                    "points": [
                        {
                            "date": "2026-09-30",
                            "assets": 5200.0,
                            "liabilities": 800.0,
                            "net_worth": 4400.0,
                            "by_type": {"depository": 5200.0, "credit": 800.0},
                            "accounts": 2,
                        }
                    ],
                }
            ]
        }
    )

    window: WindowOut
    interval: Interval
    points: list[NetWorthPoint]


class StreamOut(BaseModel):
    merchant: str | None
    direction: Literal["outflow", "inflow"] = Field(description="outflow: payments; inflow: income")
    frequency: Literal["weekly", "biweekly", "semi_monthly", "monthly", "annual"]
    category: str | None = Field(description="the stream's most common effective primary category")
    account_id: str | None
    occurrences: int
    first_date: date
    last_date: date
    next_date: date = Field(description="the predicted next occurrence")
    active: bool = Field(description="false once the predicted date is past by more than the cadence allows")
    average_amount: float
    last_amount: float
    last_transaction_id: str


class RecurringOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-30",
                    "streams": [
                        {
                            "merchant": "Netflix",
                            "direction": "outflow",
                            "frequency": "monthly",
                            "category": "ENTERTAINMENT",
                            "account_id": "acc_BxQ9",
                            "occurrences": 12,
                            "first_date": "2025-12-03",
                            "last_date": "2026-11-03",
                            "next_date": "2026-12-03",
                            "active": True,
                            "average_amount": 15.49,
                            "last_amount": 15.49,
                            "last_transaction_id": "tx_9QwE",
                        }
                    ],
                }
            ]
        }
    )

    as_of: date
    streams: list[StreamOut]


class ReviewItem(BaseModel):
    transaction: TransactionOut
    reasons: list[Literal["fallback", "low_confidence", "flagged", "new_merchant"]] = Field(
        description="fallback: no rule or model decided; low_confidence: below `confidence_below`; "
        "flagged: the categorizer asked for review; new_merchant: the first row of a merchant"
    )


class ReviewOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "window": {"from": "2025-12-01", "to": "2026-11-30"},
                    "total": 1,
                    "items": [{"transaction": TRANSACTION_EXAMPLE, "reasons": ["low_confidence"]}],
                }
            ]
        }
    )

    window: WindowOut
    total: int = Field(description="how many transactions wait for review in the window")
    items: list[ReviewItem] = Field(description="newest first, at most `limit`")
