"""POST /v1/reconciliations and GET /v1/reconciliations/{id}: expected entries against the ledger."""

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import orjson
from bankstream_common.http_auth import Caller
from bankstream_common.http_models import RequestModel
from fastapi import APIRouter, Body, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..domain import matching
from ..domain.reconciliation import Entry
from ..handlers import reconciliations
from .api import ERRORS, ID, NOT_FOUND, Deps, UserId, _error
from .schemas import MONEY_DIGITS, Id, Money

Description = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^[^\x00]*$")]

REQUEST_EXAMPLE: dict[str, Any] = {
    "account_id": "acc-checking",
    "amount_tolerance": 0.5,
    "date_window_days": 3,
    "min_similarity": 0.0,
    "entries": [
        {"reference": "inv-1042", "amount": 1250.0, "date": "2026-11-01", "description": "Rent November"},
        {"reference": "sub-7", "amount": 15.49, "date": "2026-11-05", "description": "NETFLIX.COM"},
        {"amount": -3200.0, "date": "2026-11-15", "description": "ACME payroll"},
    ],
}
ENTRY_EXAMPLE = {
    "index": 1,
    "reference": "sub-7",
    "amount": 15.49,
    "date": "2026-11-05",
    "description": "NETFLIX.COM",
    "account_id": "acc-checking",
}
TX_EXAMPLE = {
    "transaction_id": "tx-8c1",
    "account_id": "acc-checking",
    "amount": 15.49,
    "date": "2026-11-06",
    "name": "Netflix",
    "merchant_name": "Netflix",
    "pending": False,
}
RESULT_EXAMPLE: dict[str, Any] = {
    "reconciliation_id": "5f0c6c3e-0b7a-4a44-9a0e-2f1d5c6b8a11",
    "parameters": {
        "account_id": "acc-checking",
        "amount_tolerance": 0.5,
        "date_window_days": 3,
        "min_similarity": 0.0,
    },
    "matched": [
        {
            "entry": ENTRY_EXAMPLE,
            "transaction": TX_EXAMPLE,
            "score": 0.925,
            "similarity": 0.6667,
            "days_apart": 1,
            "amount_difference": 0.0,
        }
    ],
    "unmatched_entries": [{**ENTRY_EXAMPLE, "index": 2, "reference": None, "amount": -3200.0}],
    "unmatched_transactions": [
        {**TX_EXAMPLE, "transaction_id": "tx-9d2", "amount": 4.1, "name": "Starbucks"}
    ],
    "summary": {
        "entries": 3,
        "matched": 1,
        "unmatched_entries": 1,
        "unmatched_transactions": 1,
        "matched_amount": 15.49,
    },
}


class ExpectedEntryIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    amount: Money = Field(description="Plaid's sign: positive = money out of the account, negative = in")
    date: date
    description: Description
    account_id: Id | None = Field(
        None, description="only this account's transactions (default: the request's)"
    )
    reference: Id | None = Field(None, description="your own id of the entry, echoed back")


class ReconciliationIn(RequestModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [REQUEST_EXAMPLE]})

    entries: list[ExpectedEntryIn] = Field(min_length=1, max_length=5000)
    account_id: Id | None = Field(None, description="the account of entries that name none (default: all)")
    amount_tolerance: Decimal = Field(
        Decimal(0),
        ge=0,
        le=1_000_000,
        max_digits=MONEY_DIGITS,
        allow_inf_nan=False,
        description="largest amount difference matched",
    )
    date_window_days: int = Field(3, ge=0, le=60, description="largest date difference matched, in days")
    min_similarity: float = Field(
        0.0, ge=0, le=1, description="least description similarity matched (0: amount and date suffice)"
    )


class EntryOut(BaseModel):
    index: int = Field(description="the entry's position in the request (0 = the first)")
    reference: str | None
    amount: float
    date: date
    description: str
    account_id: str | None


class MatchedTransactionOut(BaseModel):
    transaction_id: str
    account_id: str
    amount: float
    date: date
    name: str | None
    merchant_name: str | None
    pending: bool | None


class MatchOut(BaseModel):
    entry: EntryOut
    transaction: MatchedTransactionOut
    score: float = Field(description="0.5 similarity + 0.3 date closeness + 0.2 amount closeness")
    similarity: float
    days_apart: int
    amount_difference: float


class SummaryOut(BaseModel):
    entries: int
    matched: int
    unmatched_entries: int
    unmatched_transactions: int
    matched_amount: float


class ReconciliationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [RESULT_EXAMPLE]})

    reconciliation_id: str
    parameters: dict[str, Any]
    matched: list[MatchOut]
    unmatched_entries: list[EntryOut]
    unmatched_transactions: list[MatchedTransactionOut] = Field(
        description="the ledger's transactions in the span the entries cover (widened by the window) that "
        "no entry took"
    )
    summary: SummaryOut


router = APIRouter(prefix="/v1", tags=["reconciliation"], responses=ERRORS)


@router.post(
    "/reconciliations",
    status_code=201,
    response_model=ReconciliationOut,
    summary="Match expected entries against the ledger, one to one (the best total score); kept",
    responses={
        400: _error("`bad_request`: the body is not JSON"),
        404: _error("an account named is not the caller's"),
    },
)
async def create_reconciliation(
    body: Annotated[ReconciliationIn, Body()], deps: Deps, who: Caller, user_id: UserId = None
) -> Response:
    entries = [Entry(e.amount, e.date, e.description, e.account_id, e.reference) for e in body.entries]
    rules = matching.Rules(body.amount_tolerance, body.date_window_days, body.min_similarity)
    answer = await reconciliations.create(deps, who, user_id, entries, body.account_id, rules)
    return Response(orjson.dumps(answer), status_code=201, media_type="application/json")


@router.get(
    "/reconciliations/{reconciliation_id}",
    response_model=ReconciliationOut,
    summary="A reconciliation as it was answered",
    responses=NOT_FOUND,
)
async def get_reconciliation(
    reconciliation_id: Annotated[str, Path(max_length=200, pattern=ID)],
    deps: Deps,
    who: Caller,
    user_id: UserId = None,
) -> Response:
    body = await reconciliations.get(deps, who, user_id, reconciliation_id)
    return Response(body, media_type="application/json")
