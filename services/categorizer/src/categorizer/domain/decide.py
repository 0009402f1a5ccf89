"""The decision: one pure function shared by the stream, the previews and the re-categorization jobs.

Tiers, first match wins, each explained in the decision it yields:
    user_rule   the user's rules by priority            decided_by = the rule id
    learned     the user's learned merchant keys        decided_by = "learned:<merchant key>"
    plaid       Plaid's PFC at HIGH or VERY_HIGH        decided_by = "plaid:<confidence_level>"
    model       the description-and-amount model        decided_by = the model's name
    fallback    OTHER / OTHER_OTHER, needs review       decided_by = "fallback"
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from . import taxonomy
from .learning import key_of
from .model import MODEL_NAME, Prediction, normalize_description
from .rules import Rule

FALLBACK_PRIMARY, FALLBACK_DETAILED = "OTHER", "OTHER_OTHER"
PLAID_CONFIDENCE = {"VERY_HIGH": 0.95, "HIGH": 0.85}
RULE_CONFIDENCE = 1.0
LEARNED_CONFIDENCE = 0.9
REVIEW_BELOW = 0.5  # a model decision less sure than this is flagged for review


class Predictor(Protocol):
    def predict(
        self,
        description: str,
        amount: float,
        merchant_name: str | None = None,
        iso_currency_code: str | None = None,
    ) -> Prediction | None: ...


@dataclass(frozen=True, slots=True)
class Txn:
    """The part of a transaction the decision reads."""

    description: str
    amount: float | None = None
    merchant_name: str | None = None
    iso_currency_code: str | None = None
    account_id: str | None = None
    pfc_primary: str | None = None
    pfc_detailed: str | None = None
    pfc_confidence: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    primary: str
    detailed: str
    source: str
    confidence: float
    decided_by: str
    needs_review: bool
    merchant: str | None

    def same_as(self, stored: Mapping[str, object] | None) -> bool:
        """Whether a stored category (the last one emitted) says the same thing."""
        if stored is None:
            return False
        return (self.primary, self.detailed, self.source, self.decided_by) == (
            stored.get("primary"),
            stored.get("detailed"),
            stored.get("source"),
            stored.get("decided_by"),
        )


@dataclass(frozen=True)
class UserContext:
    """A user's rules (already ordered) and learned merchant keys -> detailed category."""

    rules: tuple[Rule, ...] = ()
    learned: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.rules and not self.learned


NO_USER = UserContext()


@dataclass(slots=True)
class _Subject:
    account_id: str | None
    amount: float | None
    description: str
    description_norm: str
    merchant: str | None


def decide(t: Txn, ctx: UserContext, model: Predictor, model_name: str = MODEL_NAME) -> Decision:
    texts = _Texts(t)
    return _decide(t, ctx, model, model_name, texts)


def decide_keyed(
    t: Txn, ctx: UserContext, model: Predictor, model_name: str = MODEL_NAME
) -> tuple[Decision, str | None]:
    """The decision and the transaction's merchant key (`learning.merchant_key`), normalizing each of its
    texts at most once (the stream's hot path: normalizing is most of a decision's cost)."""
    texts = _Texts(t)
    return _decide(t, ctx, model, model_name, texts), texts.key()


class _Texts:
    """A transaction's normalized merchant name and description, each computed at most once."""

    __slots__ = ("_description", "_t", "merchant")

    def __init__(self, t: Txn) -> None:
        self._t = t
        self.merchant = normalize_description(t.merchant_name) if t.merchant_name else None
        self._description: str | None = None

    def description(self) -> str:
        if self._description is None:
            self._description = normalize_description(self._t.description) if self._t.description else ""
        return self._description

    def key(self) -> str | None:
        return key_of(self.merchant, self.description)


def _decide(
    t: Txn,
    ctx: UserContext,
    model: Predictor,
    model_name: str,
    texts: _Texts,
) -> Decision:
    merchant = texts.merchant
    if ctx.rules:
        subject = _Subject(t.account_id, t.amount, t.description, texts.description(), merchant)
        for rule in ctx.rules:
            if rule.matches(subject):
                return Decision(
                    rule.primary,
                    rule.spec.category,
                    "user_rule",
                    RULE_CONFIDENCE,
                    rule.rule_id,
                    False,
                    merchant,
                )
    if ctx.learned:
        key = texts.key()
        detailed = ctx.learned.get(key) if key else None
        if detailed is not None and taxonomy.is_valid(detailed):
            return Decision(
                taxonomy.primary_of(detailed),
                detailed,
                "learned",
                LEARNED_CONFIDENCE,
                f"learned:{key}",
                False,
                merchant or key,
            )
    level = (t.pfc_confidence or "").upper()
    if level in PLAID_CONFIDENCE and t.pfc_detailed and taxonomy.is_valid(t.pfc_detailed):
        return Decision(
            taxonomy.primary_of(t.pfc_detailed),
            t.pfc_detailed,
            "plaid",
            PLAID_CONFIDENCE[level],
            f"plaid:{level}",
            False,
            merchant,
        )
    if t.description or t.merchant_name:
        p = model.predict(t.description, t.amount or 0.0, t.merchant_name, t.iso_currency_code)
        if p is not None and taxonomy.is_valid(p.detailed):
            confidence = min(max(p.confidence, 0.0), 1.0)
            return Decision(
                taxonomy.primary_of(p.detailed),
                p.detailed,
                "model",
                confidence,
                model_name,
                confidence < REVIEW_BELOW,
                p.merchant or merchant,
            )
    return Decision(FALLBACK_PRIMARY, FALLBACK_DETAILED, "fallback", 0.0, "fallback", True, merchant)
