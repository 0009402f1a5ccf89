"""The authenticated HTTP API, versioned under /v1. Every route needs `Authorization: Bearer <JWT>`:
`categorizer:rules` for rules and jobs, `categorize` for the preview. A user token acts for its own user;
a service token names the user (`user_id`, also on a rule's or a job's own route), unless it holds
`users:all`."""

from typing import Annotated, Any

from bankstream_common.http_auth import AUTH_ERRORS, Caller
from fastapi import APIRouter, Body, Depends, Query, Request

from .. import handlers
from ..domain.decide import Txn
from ..domain.rules import RuleSpec
from ..handlers import categorize as cat
from ..handlers import jobs, rules
from .schemas import (
    RULE_EXAMPLE,
    CategorizeIn,
    CategorizeOut,
    JobOut,
    PreviewIn,
    PreviewOut,
    ResultOut,
    RuleList,
    RuleOut,
    RuleSaved,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "`bad_request`: the body is not JSON"},
    **AUTH_ERRORS,
    422: {"description": "an invalid body: `invalid_rule` says why (unknown category, regex too costly...)"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such rule or job (or not yours)"}}


def deps_of(request: Request) -> handlers.Deps:
    deps: handlers.Deps = request.app.state.deps
    return deps


Deps = Annotated[handlers.Deps, Depends(deps_of)]
ForUser = Annotated[
    str | None,
    Query(max_length=200, description="the user a service token acts for (a user token acts for itself)"),
]
RuleBody = Annotated[RuleSpec, Body(openapi_examples={"merchant": {"value": RULE_EXAMPLE}})]

router = APIRouter(prefix="/v1", tags=["categorizer"], responses=ERRORS)


def _saved(saved: rules.Saved) -> RuleSaved:
    return RuleSaved(rule=RuleOut.of(saved.rule) if saved.rule else None, job=JobOut.of(saved.job))


@router.post(
    "/rules",
    status_code=201,
    response_model=RuleSaved,
    summary="Create a rule; re-categorizes your transactions in the background (see the job)",
)
async def create_rule(spec: RuleBody, deps: Deps, who: Caller, user_id: ForUser = None) -> RuleSaved:
    return _saved(await rules.create_rule(deps, who, user_id, spec))


@router.get("/rules", response_model=RuleList, summary="List your rules")
async def list_rules(deps: Deps, who: Caller, user_id: ForUser = None) -> RuleList:
    return RuleList(rules=[RuleOut.of(r) for r in await rules.list_rules(deps, who, user_id)])


@router.post(
    "/rules/preview",
    response_model=PreviewOut,
    summary="Which of your transactions a rule would change, before saving it (nothing is stored)",
    responses={404: {"description": "`replaces` names no rule of yours"}},
)
async def preview_rule(body: PreviewIn, deps: Deps, who: Caller, user_id: ForUser = None) -> PreviewOut:
    spec = RuleSpec.model_validate(body.model_dump(exclude={"replaces"}))
    return PreviewOut.of(await rules.preview_rule(deps, who, user_id, spec, body.replaces))


@router.get("/rules/{rule_id}", response_model=RuleOut, summary="One rule", responses=NOT_FOUND)
async def get_rule(rule_id: str, deps: Deps, who: Caller, user_id: ForUser = None) -> RuleOut:
    return RuleOut.of(await rules.get_rule(deps, who, rule_id, user_id))


@router.put(
    "/rules/{rule_id}",
    response_model=RuleSaved,
    summary="Replace a rule; re-categorizes in the background",
    responses=NOT_FOUND,
)
async def update_rule(
    rule_id: str, spec: RuleBody, deps: Deps, who: Caller, user_id: ForUser = None
) -> RuleSaved:
    return _saved(await rules.update_rule(deps, who, rule_id, spec, user_id))


@router.delete(
    "/rules/{rule_id}",
    response_model=RuleSaved,
    summary="Delete a rule; re-categorizes in the background",
    responses=NOT_FOUND,
)
async def delete_rule(rule_id: str, deps: Deps, who: Caller, user_id: ForUser = None) -> RuleSaved:
    return _saved(await rules.delete_rule(deps, who, rule_id, user_id))


@router.get(
    "/jobs/{job_id}", response_model=JobOut, summary="A re-categorization job's progress", responses=NOT_FOUND
)
async def get_job(job_id: str, deps: Deps, who: Caller, user_id: ForUser = None) -> JobOut:
    return JobOut.of(await jobs.get_job(deps, who, job_id, user_id))


@router.post(
    "/categorize",
    response_model=CategorizeOut,
    summary="Categorize up to 1,000 transactions (same order; nothing stored)",
)
async def categorize(body: CategorizeIn, deps: Deps, who: Caller) -> CategorizeOut:
    txns = [
        Txn(
            description=t.description,
            amount=t.amount,
            merchant_name=t.merchant_name,
            iso_currency_code=t.iso_currency_code,
            account_id=t.account_id,
            pfc_primary=t.personal_finance_category.primary if t.personal_finance_category else None,
            pfc_detailed=t.personal_finance_category.detailed if t.personal_finance_category else None,
            pfc_confidence=t.personal_finance_category.confidence_level
            if t.personal_finance_category
            else None,
        )
        for t in body.transactions
    ]
    decisions = await cat.categorize(deps, who, body.user_id, txns)
    return CategorizeOut(
        results=[
            ResultOut(
                id=t.id,
                primary=d.primary,
                detailed=d.detailed,
                confidence=d.confidence,
                source=d.source,  # type: ignore[arg-type]
                merchant=d.merchant,
                decided_by=d.decided_by,
                needs_review=d.needs_review,
            )
            for t, d in zip(body.transactions, decisions, strict=True)
        ]
    )
