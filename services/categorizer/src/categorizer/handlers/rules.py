"""A user's rules: create, list, get, replace, delete, and preview before saving.

Saving (creating, replacing or deleting) a rule bumps the user's context version and starts a
re-categorization job in the same transaction; the job resource reports its progress.
"""

import uuid
from dataclasses import dataclass

from bankstream_common.auth import Principal

from ..adapters import jobs as jobs_repo
from ..adapters import knowledge, store
from ..domain.decide import decide
from ..domain.errors import RuleNotFound
from ..domain.rules import RuleSpec, compile_rule, validate
from . import jobs
from .context import RULES_SCOPE, Deps, acting_user, txn_of_state, with_rule, without_rule

PREVIEW_PAGE = 2000


@dataclass(frozen=True)
class Saved:
    rule: knowledge.RuleRow | None
    job: jobs_repo.Job


async def create_rule(deps: Deps, principal: Principal, user: str | None, spec: RuleSpec) -> Saved:
    user_id = acting_user(principal, RULES_SCOPE, user)
    validate(spec)
    rule_id = f"rule_{uuid.uuid4().hex}"
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await knowledge.insert_rule(conn, rule_id, user_id, spec.model_dump_json())
        await store.bump_context(conn, user_id)
        job = await jobs.start_job(deps, conn, user_id=user_id, reason="rule_created", caused_by=rule_id)
    deps.jobs_wakeup.set()
    return Saved(row, job)


async def list_rules(deps: Deps, principal: Principal, user: str | None) -> list[knowledge.RuleRow]:
    return await knowledge.rules_of(deps.pool, acting_user(principal, RULES_SCOPE, user))


async def get_rule(
    deps: Deps, principal: Principal, rule_id: str, user: str | None = None
) -> knowledge.RuleRow:
    principal.require(RULES_SCOPE)
    row = await knowledge.get_rule(deps.pool, rule_id)
    if row is None or not principal.may_see(row.user_id, on_behalf_of=user):
        raise RuleNotFound(rule_id)
    return row


async def update_rule(
    deps: Deps, principal: Principal, rule_id: str, spec: RuleSpec, user: str | None = None
) -> Saved:
    current = await get_rule(deps, principal, rule_id, user)
    validate(spec)
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await knowledge.update_rule(conn, rule_id, spec.model_dump_json())
        await store.bump_context(conn, current.user_id)
        job = await jobs.start_job(
            deps, conn, user_id=current.user_id, reason="rule_updated", caused_by=rule_id
        )
    deps.jobs_wakeup.set()
    return Saved(row, job)


async def delete_rule(deps: Deps, principal: Principal, rule_id: str, user: str | None = None) -> Saved:
    current = await get_rule(deps, principal, rule_id, user)
    async with deps.pool.acquire() as conn, conn.transaction():
        await knowledge.delete_rule(conn, rule_id)
        await store.bump_context(conn, current.user_id)
        job = await jobs.start_job(
            deps, conn, user_id=current.user_id, reason="rule_deleted", caused_by=rule_id
        )
    deps.jobs_wakeup.set()
    return Saved(None, job)


@dataclass(frozen=True)
class Change:
    transaction_id: str
    account_id: str
    description: str
    amount: float | None
    date: str | None
    before: dict[str, object] | None
    after: dict[str, object]


@dataclass(frozen=True)
class Preview:
    scanned: int
    would_change: int
    changes: list[Change]


async def preview_rule(
    deps: Deps, principal: Principal, user: str | None, spec: RuleSpec, replaces: str | None
) -> Preview:
    """Which of the user's transactions the rule would change (overridden ones never change); nothing
    is stored. `replaces` previews an edit of an existing rule."""
    user_id = acting_user(principal, RULES_SCOPE, user)
    if replaces is not None:
        await get_rule(deps, principal, replaces, user_id)
    candidate = compile_rule(replaces or "preview", spec, seq=2**62)
    current = await deps.context_for(deps.pool, user_id, None)
    ctx = with_rule(without_rule(current, replaces) if replaces else current, candidate)
    scanned = would_change = 0
    changes: list[Change] = []
    after = ""
    while True:
        rows = await store.page(deps.pool, user_id=user_id, after=after, limit=PREVIEW_PAGE)
        for row in rows:
            scanned += 1
            if row.overridden:
                continue
            t = txn_of_state(row.state)
            decision = decide(t, ctx, deps.model, deps.model_name)
            if decision.same_as(row.category):
                continue
            would_change += 1
            if len(changes) < deps.settings.preview_limit:
                changes.append(
                    Change(
                        transaction_id=row.transaction_id,
                        account_id=row.account_id,
                        description=t.description,
                        amount=t.amount,
                        date=str(row.state.get("date")) if row.state.get("date") else None,
                        before=row.category,
                        after={
                            "primary": decision.primary,
                            "detailed": decision.detailed,
                            "source": decision.source,
                            "decided_by": decision.decided_by,
                        },
                    )
                )
        if len(rows) < PREVIEW_PAGE:
            return Preview(scanned, would_change, changes)
        after = rows[-1].transaction_id
