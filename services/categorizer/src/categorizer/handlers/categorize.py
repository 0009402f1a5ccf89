"""`POST /v1/categorize`: the pure preview. The same decision as the stream, nothing stored; with a user's
rules and learned keys when a user is named (a user token: its own user; a service token: the one it
names, or none)."""

from collections.abc import Sequence

from bankstream_common.auth import NotAllowed, Principal

from ..domain.decide import NO_USER, Decision, Txn, decide
from .context import CATEGORIZE_SCOPE, Deps


def user_for_preview(principal: Principal, requested: str | None) -> str | None:
    principal.require(CATEGORIZE_SCOPE)
    own = principal.user_id
    if own is not None and not principal.every_user:
        if requested not in (None, own):
            raise NotAllowed("a user token categorizes only with its own user's rules")
        return own
    return requested


async def categorize(
    deps: Deps, principal: Principal, user: str | None, transactions: Sequence[Txn]
) -> list[Decision]:
    user_id = user_for_preview(principal, user)
    ctx = await deps.context_for(deps.pool, user_id, None) if user_id else NO_USER
    decisions = [decide(t, ctx, deps.model, deps.model_name) for t in transactions]
    for d in decisions:
        deps.metrics.decisions.labels(d.source, "preview").inc()
    return decisions
