"""What every handler is given (`Deps`, built by bootstrap) and the user context they all decide with."""

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field

import asyncpg
from bankstream_common.auth import Principal
from bankstream_common.envelope import Envelope

from ..adapters import knowledge
from ..config import Settings
from ..domain import events as ev
from ..domain.decide import Decision, Predictor, Txn, UserContext
from ..domain.events import Category, TransactionChangedIn
from ..domain.model import MODEL_NAME
from ..domain.rules import Rule, RuleSpec, compile_rule, ordered
from ..metrics import Metrics

RULES_SCOPE = "categorizer:rules"
CATEGORIZE_SCOPE = "categorize"


@dataclass
class Deps:
    settings: Settings
    pool: asyncpg.Pool
    model: Predictor
    metrics: Metrics
    model_name: str = MODEL_NAME
    topic_prefix: str = ""
    jobs_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _contexts: "OrderedDict[str, tuple[int, UserContext]]" = field(default_factory=OrderedDict)

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    async def context_for(
        self, conn: asyncpg.Connection | asyncpg.Pool, user_id: str, version: int | None
    ) -> UserContext:
        """The user's compiled rules and learned keys; cached per context version (None: always load)."""
        cached = self._contexts.get(user_id)
        if version is not None and cached is not None and cached[0] == version:
            self._contexts.move_to_end(user_id)
            return cached[1]
        rows = await knowledge.rules_of(conn, user_id)
        rules = [compile_rule(r.rule_id, RuleSpec.model_validate(r.spec), r.seq) for r in rows]
        ctx = UserContext(rules=ordered(rules), learned=await knowledge.learned_of(conn, user_id))
        if version is not None and self.settings.context_cache_size:
            self._contexts[user_id] = (version, ctx)
            self._contexts.move_to_end(user_id)
            while len(self._contexts) > self.settings.context_cache_size:
                self._contexts.popitem(last=False)
        return ctx


def with_rule(ctx: UserContext, rule: Rule, replaces: str | None = None) -> UserContext:
    kept = [r for r in ctx.rules if r.rule_id not in (rule.rule_id, replaces)]
    return UserContext(rules=ordered([*kept, rule]), learned=ctx.learned)


def without_rule(ctx: UserContext, rule_id: str) -> UserContext:
    return UserContext(rules=tuple(r for r in ctx.rules if r.rule_id != rule_id), learned=ctx.learned)


def txn_of_state(state: dict[str, object]) -> Txn:
    """The decision's view of a stored transaction state (`txn_of_change` for an incoming event)."""
    get = state.get
    pfc = get("personal_finance_category") or {}
    assert isinstance(pfc, dict)
    amount = get("amount")
    return Txn(
        description=str(get("name") or get("original_description") or ""),
        amount=float(amount) if isinstance(amount, int | float) else None,
        merchant_name=_str(get("merchant_name")),
        iso_currency_code=_str(get("iso_currency_code")),
        account_id=_str(get("account_id")),
        pfc_primary=_str(pfc.get("primary")),
        pfc_detailed=_str(pfc.get("detailed")),
        pfc_confidence=_str(pfc.get("confidence_level")),
    )


def txn_of_change(c: TransactionChangedIn) -> Txn:
    """The decision's view of a validated TransactionChanged, read field by field (the stream's hot path)."""
    pfc = c.personal_finance_category or {}
    return Txn(
        description=c.name or c.original_description or "",
        amount=c.amount,
        merchant_name=c.merchant_name,
        iso_currency_code=c.iso_currency_code,
        account_id=c.account_id,
        pfc_primary=_str(pfc.get("primary")),
        pfc_detailed=_str(pfc.get("detailed")),
        pfc_confidence=_str(pfc.get("confidence_level")),
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def category_of(d: Decision) -> Category:
    return Category(
        primary=d.primary,
        detailed=d.detailed,
        source=d.source,  # type: ignore[arg-type]
        confidence=d.confidence,
        decided_by=d.decided_by,
        needs_review=d.needs_review,
        merchant=d.merchant,
    )


def category_dict(d: Decision) -> dict[str, object]:
    """`category_of` as the JSON object it becomes, built directly (the stream's hot path)."""
    return {
        "primary": d.primary,
        "detailed": d.detailed,
        "source": d.source,
        "confidence": d.confidence,
        "decided_by": d.decided_by,
        "needs_review": d.needs_review,
        "merchant": d.merchant,
    }


def acting_user(principal: Principal, scope: str, requested: str | None) -> str:
    """The user whose rules a call touches: a user token's own, or the one a service token names."""
    principal.require(scope)
    return principal.acting_user(requested)


def categorized(out: ev.TransactionCategorized) -> Envelope:
    return Envelope.new(
        source=ev.SOURCE, type=ev.TRANSACTION_CATEGORIZED, subject=out.transaction_id, data=out
    )
