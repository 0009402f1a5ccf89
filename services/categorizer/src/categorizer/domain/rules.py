"""A user's categorization rules: what a rule may say, how it is checked, and how it matches.

A rule matches when EVERY criterion it sets holds:
    merchant              the transaction's normalized merchant equals it, or its normalized description
                          holds it as whole words ("blue bottle" matches "SQ *BLUE BOTTLE COFF")
    description_contains  a case-insensitive substring of the description (Plaid `name`, else original)
    description_regex     a bounded regex (regex_guard) searched in the description, case-insensitive
    amount_min/amount_max the absolute amount lies within (inclusive)
    account_id            the transaction's account
    direction             "out" (amount > 0, Plaid's sign) or "in" (amount < 0)
Rules are tried by `priority` (highest first), then oldest first; the first match wins.
"""

import re
from dataclasses import dataclass
from typing import Literal, Protocol

from bankstream_common.http_models import RequestModel
from pydantic import ConfigDict, Field

from . import regex_guard, taxonomy
from .errors import RuleInvalid
from .model import normalize_description


class RuleMatch(RequestModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    merchant: str | None = Field(None, min_length=1, max_length=200, examples=["Blue Bottle"])
    description_contains: str | None = Field(None, min_length=1, max_length=200, examples=["PAYROLL"])
    description_regex: str | None = Field(None, max_length=1000, examples=[r"^sq \*blue"])
    amount_min: float | None = Field(
        None, ge=0, le=1e15, allow_inf_nan=False, description="absolute amount, inclusive"
    )
    amount_max: float | None = Field(
        None, ge=0, le=1e15, allow_inf_nan=False, description="absolute amount, inclusive"
    )
    account_id: str | None = Field(None, min_length=1, max_length=200)
    direction: Literal["in", "out"] | None = Field(
        None, description="out: money leaves the account (Plaid amount > 0); in: money arrives"
    )


class RuleSpec(RequestModel):
    """What a user says: when `match` holds, the transaction is `category` (a PFC v2 detailed code)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, max_length=200, examples=["Coffee is coffee"])
    match: RuleMatch
    category: str = Field(min_length=1, max_length=100, examples=["FOOD_AND_DRINK_COFFEE"])
    priority: int = Field(0, ge=-1000, le=1000, description="higher is tried first")


@dataclass(frozen=True)
class Rule:
    rule_id: str
    spec: RuleSpec
    seq: int  # creation order: ties of priority go to the older rule
    primary: str
    merchant: str | None
    contains: str | None
    regex: re.Pattern[str] | None

    def matches(self, t: "RuleSubject") -> bool:
        m = self.spec.match
        if m.account_id is not None and t.account_id != m.account_id:
            return False
        if m.direction is not None or m.amount_min is not None or m.amount_max is not None:
            if t.amount is None:
                return False
            if (m.direction == "out" and t.amount <= 0) or (m.direction == "in" and t.amount >= 0):
                return False
            size = abs(t.amount)
            if m.amount_min is not None and size < m.amount_min:
                return False
            if m.amount_max is not None and size > m.amount_max:
                return False
        if self.merchant is not None and not (
            t.merchant == self.merchant or f" {self.merchant} " in f" {t.description_norm} "
        ):
            return False
        if self.contains is not None and self.contains not in t.description.casefold():
            return False
        return self.regex is None or regex_guard.search(self.regex, t.description)


class RuleSubject(Protocol):
    """What rules look at; decide.Txn provides it."""

    account_id: str | None
    amount: float | None
    description: str
    description_norm: str
    merchant: str | None


def validate(spec: RuleSpec) -> None:
    """RuleInvalid with the reason, or nothing."""
    m = spec.match
    if not any(
        v is not None
        for v in (
            m.merchant,
            m.description_contains,
            m.description_regex,
            m.amount_min,
            m.amount_max,
            m.account_id,
            m.direction,
        )
    ):
        raise RuleInvalid("a rule must match on at least one criterion")
    if m.amount_min is not None and m.amount_max is not None and m.amount_min > m.amount_max:
        raise RuleInvalid("amount_min is greater than amount_max")
    if not taxonomy.is_valid(spec.category):
        raise RuleInvalid(f"{spec.category} is not a PFC v2 detailed category")
    if m.merchant is not None and not normalize_description(m.merchant):
        raise RuleInvalid("merchant has no letters to match on")
    if m.description_regex is not None:
        regex_guard.compile_safe(m.description_regex)


def compile_rule(rule_id: str, spec: RuleSpec, seq: int) -> Rule:
    validate(spec)
    m = spec.match
    return Rule(
        rule_id=rule_id,
        spec=spec,
        seq=seq,
        primary=taxonomy.primary_of(spec.category),
        merchant=normalize_description(m.merchant) if m.merchant else None,
        contains=m.description_contains.casefold() if m.description_contains else None,
        regex=regex_guard.compile_safe(m.description_regex) if m.description_regex else None,
    )


def ordered(rules: list[Rule]) -> tuple[Rule, ...]:
    return tuple(sorted(rules, key=lambda r: (-r.spec.priority, r.seq)))
