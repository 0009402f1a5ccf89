"""The HTTP API's request and response bodies (rule bodies are the domain's RuleSpec)."""

import datetime as dt
from typing import Any, Literal

from bankstream_common.http_models import RequestModel
from pydantic import BaseModel, ConfigDict, Field

from ..adapters.jobs import Job
from ..adapters.knowledge import RuleRow
from ..domain.rules import RuleMatch, RuleSpec
from ..handlers.rules import Preview

MAX_CATEGORIZE = 1000

RULE_EXAMPLE: dict[str, Any] = {
    "name": "Blue Bottle is coffee",
    "match": {"merchant": "Blue Bottle", "direction": "out", "amount_max": 50},
    "category": "FOOD_AND_DRINK_COFFEE",
    "priority": 10,
}


class JobOut(BaseModel):
    job_id: str
    user_id: str
    reason: Literal["rule_created", "rule_updated", "rule_deleted", "learned", "item_linked"]
    caused_by: str
    state: Literal["running", "succeeded", "failed"]
    total: int = Field(description="transactions in the job's scope when it started (grows if more arrive)")
    processed: int
    changed: int = Field(description="transactions whose category changed (one event each)")
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None = Field(None, description="why a failed job failed")

    @classmethod
    def of(cls, job: Job) -> "JobOut":
        return cls(
            job_id=str(job.job_id),
            user_id=job.user_id,
            reason=job.reason,  # type: ignore[arg-type]
            caused_by=job.caused_by,
            state=job.state,  # type: ignore[arg-type]
            total=job.total,
            processed=job.processed,
            changed=job.changed,
            created_at=job.created_at,
            updated_at=job.updated_at,
            finished_at=job.finished_at,
            error=job.error,
        )


class RuleOut(BaseModel):
    rule_id: str
    user_id: str
    name: str | None
    match: RuleMatch
    category: str
    priority: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: RuleRow) -> "RuleOut":
        spec = RuleSpec.model_validate(row.spec)
        return cls(
            rule_id=row.rule_id,
            user_id=row.user_id,
            name=spec.name,
            match=spec.match,
            category=spec.category,
            priority=spec.priority,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class RuleSaved(BaseModel):
    rule: RuleOut | None = Field(description="null after a deletion")
    job: JobOut = Field(description="the re-categorization job the change started: GET /v1/jobs/{job_id}")


class RuleList(BaseModel):
    rules: list[RuleOut]


class PreviewIn(RuleSpec):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [RULE_EXAMPLE]})

    replaces: str | None = Field(None, description="preview an edit of this existing rule")


class ChangeOut(BaseModel):
    transaction_id: str
    account_id: str
    description: str
    amount: float | None
    date: str | None
    before: dict[str, Any] | None
    after: dict[str, Any]


class PreviewOut(BaseModel):
    scanned: int = Field(description="the user's live transactions looked at")
    would_change: int = Field(description="how many would get another category (overridden ones never do)")
    changes: list[ChangeOut] = Field(description="the first of them")

    @classmethod
    def of(cls, p: Preview) -> "PreviewOut":
        return cls(
            scanned=p.scanned,
            would_change=p.would_change,
            changes=[ChangeOut(**c.__dict__) for c in p.changes],
        )


class PfcIn(RequestModel):
    model_config = ConfigDict(extra="ignore")

    primary: str | None = None
    detailed: str | None = None
    confidence_level: str | None = None


class TransactionIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    description: str = Field(max_length=1000)
    amount: float = Field(description="Plaid's sign: positive = money out, negative = money in")
    iso_currency_code: str | None = Field(None, max_length=3)
    date: dt.date | None = None
    merchant_name: str | None = Field(None, max_length=200)
    account_id: str | None = Field(None, max_length=200)
    personal_finance_category: PfcIn | None = None


class CategorizeIn(RequestModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "transactions": [
                        {
                            "id": "t1",
                            "description": "SQ *BLUE BOTTLE COFF",
                            "amount": 5.25,
                            "iso_currency_code": "USD",
                            "date": "2026-11-20",
                        },
                        {
                            "id": "t2",
                            "description": "ACH DEBIT ACME CORP PAYROLL",
                            "amount": -2500.0,
                            "iso_currency_code": "USD",
                            "date": "2026-11-15",
                            "personal_finance_category": {
                                "primary": "INCOME",
                                "detailed": "INCOME_SALARY",
                                "confidence_level": "VERY_HIGH",
                            },
                        },
                    ]
                }
            ]
        },
    )

    transactions: list[TransactionIn] = Field(min_length=1, max_length=MAX_CATEGORIZE)
    user_id: str | None = Field(
        None, description="apply this user's rules and learning (a user token: only its own user)"
    )


class ResultOut(BaseModel):
    id: str
    primary: str
    detailed: str
    confidence: float
    source: Literal["user_rule", "learned", "plaid", "model", "fallback"]
    merchant: str | None
    decided_by: str
    needs_review: bool


class CategorizeOut(BaseModel):
    results: list[ResultOut] = Field(description="in the order of the request")
