"""What the HTTP API accepts and answers: query and body models (strict), response models with examples."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from bankstream_common.http_models import RequestModel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..domain.filters import DEFAULT_LIMIT, MAX_LIMIT, Sort

NO_NUL = r"^[^\x00]*$"
Id = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
Text = Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL)]
# 32 digits at most: 1e-16384 passed a bound on the value alone and the driver refused it (a 500); a
# float's noise (15.490000000000001) still passes
MONEY_DIGITS = 32
Money = Annotated[
    Decimal,
    Field(ge=Decimal("-1e15"), le=Decimal("1e15"), max_digits=MONEY_DIGITS, allow_inf_nan=False),
]

CATEGORY_EXAMPLE: dict[str, Any] = {
    "primary": "FOOD_AND_DRINK",
    "detailed": "FOOD_AND_DRINK_COFFEE",
    "source": "learned",
    "confidence": 0.93,
    "decided_by": "learned:starbucks",
}


class TransactionQuery(RequestModel):
    """GET /v1/transactions: every filter is optional; unknown parameters are refused (422)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    user_id: Id | None = Field(None, description="the user to read; service tokens only (and required)")
    account_id: Id | None = None
    item_id: Id | None = None
    from_date: date | None = Field(None, alias="from", description="first date included (YYYY-MM-DD)")
    to_date: date | None = Field(None, alias="to", description="last date included (YYYY-MM-DD)")
    category: Id | None = Field(
        None,
        description="the EFFECTIVE category (the user's edit, else the categorizer's): a PFC v2 primary "
        "(FOOD_AND_DRINK) or detailed (FOOD_AND_DRINK_COFFEE) value",
        examples=["FOOD_AND_DRINK"],
    )
    q: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_NUL)] | None = Field(
        None, description="text in the merchant name or the description (case-insensitive)"
    )
    amount_min: Money | None = Field(None, description="Plaid's sign: positive = money out")
    amount_max: Money | None = None
    pending: bool | None = None
    include_removed: bool = Field(False, description="include tombstones of removed transactions")
    sort: Sort = Sort.DATE_DESC
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = Field(
        None, description="the next_cursor of the previous page, with the same filters and sort"
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    def filters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"user_id", "cursor", "limit"})


class TransactionEditIn(RequestModel):
    """Only the fields present change; `category: null` clears the user's category override. Strict:
    `hidden` is true or false, never "yes" or 1; text is a JSON string, never a number."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"category": "FOOD_AND_DRINK_COFFEE", "notes": "team coffee", "tags": ["work"]}]
        },
    )

    category: Id | None = Field(None, description="a PFC v2 detailed category, or null to clear the override")
    notes: Text | None = Field(None, description="free text; an empty string or null clears it")
    tags: (
        list[Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[^\x00]+$")]] | None
    ) = Field(None, max_length=50)
    hidden: bool | None = None


class CategoryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CATEGORY_EXAMPLE]})

    primary: str | None
    detailed: str | None
    source: str | None = Field(description='"user" when the user set it; else the categorizer\'s source')
    confidence: float | None
    decided_by: str | None


class UserCategoryOut(BaseModel):
    primary: str
    detailed: str


class UserEditsOut(BaseModel):
    notes: str | None
    tags: list[str]
    hidden: bool
    category: UserCategoryOut | None


TRANSACTION_EXAMPLE: dict[str, Any] = {
    "transaction_id": "tx_7Lk2",
    "account_id": "acc_BxQ9",
    "item_id": "item_3fRt",
    "amount": 4.75,
    "iso_currency_code": "USD",
    "date": "2026-11-27",
    "authorized_date": "2026-11-26",
    "datetime": None,
    "name": "STARBUCKS 1234",
    "merchant_name": "Starbucks",
    "pending": False,
    "pending_transaction_id": None,
    "removed": False,
    "category": CATEGORY_EXAMPLE,
    "categorizer_category": CATEGORY_EXAMPLE,
    "user": {"notes": None, "tags": [], "hidden": False, "category": None},
    "version": 3,
    "updated_at": "2026-11-27T09:12:44.120000+00:00",
}


class TransactionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [TRANSACTION_EXAMPLE]})

    transaction_id: str
    account_id: str
    item_id: str
    amount: float | None = Field(description="Plaid's sign: positive = money out of the account")
    iso_currency_code: str | None
    date: str | None
    authorized_date: str | None
    datetime: str | None
    name: str | None
    merchant_name: str | None
    pending: bool | None
    pending_transaction_id: str | None
    removed: bool
    category: CategoryOut | None = Field(description="the effective category")
    categorizer_category: CategoryOut | None
    user: UserEditsOut
    version: int
    updated_at: str | None


class TransactionPage(BaseModel):
    transactions: list[TransactionOut]
    next_cursor: str | None = Field(description="pass it back as `cursor` for the next page; null at the end")


class HistoryEntry(BaseModel):
    seq: int
    op: str = Field(examples=["added", "modified", "recategorized", "edited", "removed"])
    version: int | None
    data: dict[str, Any] = Field(description="the transaction as it was after this change")
    at: datetime


class TransactionDetail(TransactionOut):
    user_edited_at: datetime | None
    successor_id: str | None = Field(description="the posted transaction that replaced this pending one")
    history: list[HistoryEntry]


class AccountOut(BaseModel):
    account_id: str
    item_id: str
    name: str | None
    official_name: str | None
    mask: str | None
    type: str | None
    subtype: str | None
    balance_available: float | None
    balance_current: float | None
    balance_limit: float | None
    iso_currency_code: str | None
    unofficial_currency_code: str | None
    balance_as_of: datetime | None
    transaction_count: int
    earliest_date: date | None
    latest_date: date | None


class AccountWithItemOut(AccountOut):
    item_status: str | None
    needs_repair: bool | None
    last_synced_at: datetime | None


class AccountList(BaseModel):
    accounts: list[AccountWithItemOut]


class ItemOut(BaseModel):
    item_id: str
    institution_id: str | None
    institution_name: str | None
    status: str = Field(examples=["good", "login_required"])
    needs_repair: bool
    status_code: str | None
    status_changed_at: datetime | None
    removed_at: datetime | None
    last_synced_at: datetime | None = Field(description="when the last sync finished successfully")
    last_sync_failed_at: datetime | None
    last_sync_error_code: str | None
    linked_at: datetime | None
    accounts: list[AccountOut]


class ItemList(BaseModel):
    items: list[ItemOut]


class BalancePoint(BaseModel):
    day: date
    balance_available: float | None
    balance_current: float | None
    balance_limit: float | None
    iso_currency_code: str | None
    as_of: datetime


class BalanceHistory(BaseModel):
    account_id: str
    points: list[BalancePoint]


class ChangeOut(BaseModel):
    cursor: str = Field(description="the feed position after this change (an SSE event's id)")
    seq: int
    entity: str = Field(examples=["transaction", "account", "item"])
    entity_id: str
    item_id: str | None
    op: str = Field(
        examples=["added", "modified", "removed", "recategorized", "edited", "status", "balance", "rebuilt"]
    )
    version: int | None
    data: dict[str, Any] = Field(description="the entity's public state after the change")
    at: datetime


class ChangesPage(BaseModel):
    changes: list[ChangeOut]
    next_cursor: str = Field(description="always set: pass it back to continue (also after an empty page)")


class RefreshAccepted(BaseModel):
    item_id: str
    event_id: str = Field(description="the id of the SyncRequested event published")


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(examples=["invalid_cursor"])
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail
