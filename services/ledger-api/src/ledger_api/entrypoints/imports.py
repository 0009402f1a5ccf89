"""POST /v1/imports and GET /v1/imports/{id}: a bank's CSV export into an account, through the categorizer."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from bankstream_common.http_auth import Caller
from bankstream_common.http_models import RequestModel
from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..domain import matching
from ..domain.csv_layouts import GENERIC, PRESETS
from ..handlers import imports
from .api import ERRORS, ID, NOT_FOUND, Deps, UserId, _error
from .schemas import MONEY_DIGITS, Id

Column = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]
LayoutName = Literal[
    "generic", "chase_card", "chase_checking", "bofa_checking", "amex", "capital_one", "wells_fargo"
]
assert set(LayoutName.__args__) == {GENERIC, *PRESETS}  # type: ignore[attr-defined]

CSV_EXAMPLE = (
    "Booked,Text,Value,Ref\n2026-11-02,SQ *BLUE BOTTLE 8372,-4.50,A-1001\n"
    "2026-11-03,PAYROLL ACME,3200.00,A-1002\n"
)
REQUEST_EXAMPLE: dict[str, Any] = {
    "account_id": "acc-checking",
    "layout": "generic",
    "mapping": {
        "date": "Booked",
        "description": "Text",
        "amount": "Value",
        "id": "Ref",
        "date_format": "%Y-%m-%d",
        "sign": "negative_is_out",
    },
    "csv": CSV_EXAMPLE,
}
JOB_EXAMPLE: dict[str, Any] = {
    "import_id": "0b6f3c5e-6a51-4f0e-8d7e-1d2c3b4a5f60",
    "account_id": "acc-checking",
    "layout": "generic",
    "state": "succeeded",
    "error": None,
    "file_sha256": "9f2c...",
    "progress": {"total": 3, "processed": 3, "fraction": 1.0},
    "report": {
        "imported": 1,
        "duplicates": 1,
        "bad_lines": 1,
        "findings": [
            {
                "line": 2,
                "kind": "duplicate",
                "transaction_id": "plaid-tx-81",
                "how": "fuzzy",
                "date": "2026-11-02",
                "amount": 4.5,
                "description": "Blue Bottle Coffee",
                "score": 0.87,
                "similarity": 0.74,
                "days_apart": 0,
            },
            {
                "line": 4,
                "kind": "bad",
                "reason": "date '11/31/2026' is not %Y-%m-%d",
                "text": "11/31/2026,X,1.00,A-9",
            },
        ],
        "findings_truncated": False,
    },
    "created_at": "2026-11-30T02:00:00Z",
    "finished_at": "2026-11-30T02:00:01Z",
}


class ColumnMapping(RequestModel):
    """The generic layout: which column holds what (by header name, or by position "0", "1"... when
    `header` is false)."""

    model_config = ConfigDict(extra="forbid")

    date: Column
    description: Column
    amount: Column | None = Field(None, description="one signed amount column (else debit and/or credit)")
    debit: Column | None = Field(None, description="money out, as a positive number")
    credit: Column | None = Field(None, description="money in, as a positive number")
    id: Column | None = Field(None, description="the bank's own id of the line (dedup tries it first)")
    memo: list[Column] = Field([], max_length=5, description="columns appended to the description")
    date_format: Annotated[str, StringConstraints(min_length=2, max_length=40, pattern=r"^[^\x00]*$")] = (
        Field("%Y-%m-%d", description="strptime format, e.g. %m/%d/%Y or %d.%m.%Y")
    )
    sign: Literal["negative_is_out", "positive_is_out"] = "negative_is_out"
    header: bool = True
    delimiter: Literal[",", ";", "\t", "|"] = ","
    decimal: Literal[".", ","] = "."


class ImportIn(RequestModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [REQUEST_EXAMPLE]})

    account_id: Id = Field(description="the account the file is an export of (yours)")
    layout: LayoutName = Field(description="a bank's export layout, or `generic` with a `mapping`")
    mapping: ColumnMapping | None = None
    csv: str = Field(min_length=1, description="the file's text (UTF-8)")
    amount_tolerance: Decimal = Field(Decimal(0), ge=0, le=1000, max_digits=MONEY_DIGITS, allow_inf_nan=False)
    date_window_days: int = Field(7, ge=0, le=60, description="how far apart a duplicate's date may be")
    min_similarity: float = Field(0.0, ge=0, le=1, description="least description similarity of a duplicate")


class ProgressOut(BaseModel):
    total: int = Field(description="data lines in the file")
    processed: int
    fraction: float


class FindingOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    line: int = Field(description="the physical line of the file (1 = the first)")
    kind: Literal["duplicate", "bad"]
    reason: str | None = Field(None, description="bad: why the line was not read")
    transaction_id: str | None = Field(None, description="duplicate: the transaction it duplicates")
    how: Literal["same_id", "imported_id", "fuzzy"] | None = None


class ReportOut(BaseModel):
    imported: int = Field(description="new transactions sent to the categorizer")
    duplicates: int
    bad_lines: int
    findings: list[FindingOut] = Field(
        description=f"duplicates and bad lines, by line (the first {imports.REPORT_LIMIT})"
    )
    findings_truncated: bool


class ImportOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [JOB_EXAMPLE]})

    import_id: str
    account_id: str
    layout: str
    state: Literal["running", "succeeded", "failed"]
    error: str | None = Field(None, description="failed: why the import stopped (bad lines are findings)")
    file_sha256: str
    progress: ProgressOut
    report: ReportOut
    created_at: datetime
    finished_at: datetime | None


router = APIRouter(prefix="/v1", tags=["imports"], responses=ERRORS)


@router.post(
    "/imports",
    status_code=202,
    response_model=ImportOut,
    summary="Import a bank's CSV export into an account: deduplicated, categorized, then in the ledger",
    responses={
        400: _error("`bad_request`: the body is not JSON"),
        404: _error("the account is not the caller's"),
        413: _error("the body is over LEDGER_API_IMPORT_MAX_BYTES"),
    },
)
async def create_import(
    body: Annotated[ImportIn, Body()], deps: Deps, who: Caller, user_id: UserId = None
) -> ImportOut:
    job = await imports.start(
        deps,
        who,
        user_id,
        account_id=body.account_id,
        layout=body.layout,
        mapping=body.mapping.model_dump() if body.mapping else None,
        rules=matching.Rules(body.amount_tolerance, body.date_window_days, body.min_similarity),
        body=body.csv,
    )
    return ImportOut.model_validate(job)


@router.get(
    "/imports/{import_id}",
    response_model=ImportOut,
    summary="An import: its progress, and its report (duplicates and bad lines)",
    responses=NOT_FOUND,
)
async def get_import(
    import_id: Annotated[str, Path(max_length=200, pattern=ID)],
    deps: Deps,
    who: Caller,
    user_id: UserId = None,
) -> ImportOut:
    return ImportOut.model_validate(await imports.get(deps, who, user_id, import_id))
