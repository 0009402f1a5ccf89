"""The decision, pure: tiers in order, what each rule criterion means, the learning window, regex bounds."""

import time

import pytest
from categorizer.domain import learning, regex_guard
from categorizer.domain.decide import NO_USER, Txn, UserContext, decide, decide_keyed
from categorizer.domain.errors import RuleInvalid
from categorizer.domain.model import Model
from categorizer.domain.rules import RuleMatch, RuleSpec, compile_rule, ordered

MODEL = Model.load()
HIGH_COFFEE = {"pfc_detailed": "FOOD_AND_DRINK_COFFEE", "pfc_confidence": "HIGH"}


def rule(rule_id: str, category: str, seq: int = 0, priority: int = 0, **match: object):  # type: ignore[no-untyped-def]
    return compile_rule(
        rule_id, RuleSpec(match=RuleMatch(**match), category=category, priority=priority), seq
    )


def test_first_matching_tier_wins() -> None:
    t = Txn(description="STARBUCKS 123", amount=4.5, merchant_name="Starbucks", **HIGH_COFFEE)
    r = rule("r1", "FOOD_AND_DRINK_FAST_FOOD", merchant="starbucks")
    learned = {"starbucks": "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE"}
    assert decide(t, UserContext(rules=(r,), learned=learned), MODEL).source == "user_rule"
    d = decide(t, UserContext(learned=learned), MODEL)
    assert (d.source, d.decided_by, d.primary) == ("learned", "learned:starbucks", "GENERAL_MERCHANDISE")
    d = decide(t, NO_USER, MODEL)
    assert (d.source, d.decided_by, d.confidence) == ("plaid", "plaid:HIGH", 0.85)
    low = Txn(
        description="STARBUCKS 123", amount=4.5, pfc_detailed="FOOD_AND_DRINK_COFFEE", pfc_confidence="LOW"
    )
    assert decide(low, NO_USER, MODEL).source == "model"
    d = decide(Txn(description="XQZ 99812", amount=1.0), NO_USER, MODEL)
    assert (d.source, d.primary, d.detailed, d.needs_review) == ("fallback", "OTHER", "OTHER_OTHER", True)


@pytest.mark.parametrize(
    ("description", "merchant_name"),
    [
        ("SQ *BLUE BOTTLE COFF", None),
        ("AMZN Mktp US*2K4LL1", "Amazon"),
        ("", "Starbucks"),
        ("STARBUCKS 123", "   "),
        ("", None),
        ("XQZ 99812", None),
    ],
)
def test_the_streams_decision_and_key_are_the_decision_and_the_merchant_key(
    description: str, merchant_name: str | None
) -> None:
    """The stream decides and keys a transaction normalizing each text once: same answers as apart."""
    r = rule("r1", "FOOD_AND_DRINK_COFFEE", description_contains="zzz")
    t = Txn(description=description, amount=4.5, merchant_name=merchant_name)
    for ctx in (NO_USER, UserContext(rules=(r,)), UserContext(learned={"amazon": "FOOD_AND_DRINK_COFFEE"})):
        assert decide_keyed(t, ctx, MODEL) == (
            decide(t, ctx, MODEL),
            learning.merchant_key(merchant_name, description),
        )


def test_a_plaid_category_outside_the_taxonomy_is_not_trusted() -> None:
    t = Txn(description="XQZ", amount=1.0, pfc_detailed="NOT_A_CATEGORY", pfc_confidence="VERY_HIGH")
    assert decide(t, NO_USER, MODEL).source == "fallback"


def test_rule_criteria_all_must_hold_and_priority_orders_them() -> None:
    out = Txn(description="SQ *BLUE BOTTLE COFF", amount=5.0, account_id="a1")
    refund = Txn(description="SQ *BLUE BOTTLE COFF", amount=-5.0, account_id="a1")
    r = rule("r", "FOOD_AND_DRINK_COFFEE", direction="out", amount_min=1, amount_max=10, account_id="a1")
    ctx = UserContext(rules=(r,))
    assert decide(out, ctx, MODEL).source == "user_rule"
    assert decide(refund, ctx, MODEL).source != "user_rule"
    assert decide(Txn(description="x", amount=50.0, account_id="a1"), ctx, MODEL).source != "user_rule"
    assert decide(Txn(description="x", amount=5.0, account_id="a2"), ctx, MODEL).source != "user_rule"
    merchant = UserContext(rules=(rule("m", "FOOD_AND_DRINK_COFFEE", merchant="Blue Bottle"),))
    assert decide(out, merchant, MODEL).decided_by == "m"  # whole words of the normalized description
    assert decide(Txn(description="BLUEBOTTLEX", amount=1.0), merchant, MODEL).source != "user_rule"
    low = rule("low", "FOOD_AND_DRINK_COFFEE", seq=1, priority=1, description_contains="blue")
    high = rule("high", "FOOD_AND_DRINK_FAST_FOOD", seq=2, priority=9, description_regex=r"^sq \*blue")
    assert decide(out, UserContext(rules=ordered([low, high])), MODEL).decided_by == "high"


def test_learning_needs_three_of_the_last_five() -> None:
    coffee, grocery = "FOOD_AND_DRINK_COFFEE", "FOOD_AND_DRINK_GROCERIES"
    assert learning.learned_from([coffee, coffee]) is None
    assert learning.learned_from([coffee, grocery, coffee, grocery, coffee]) == coffee
    other = "OTHER_OTHER"
    assert learning.learned_from([grocery, coffee, grocery, coffee, other, coffee]) is None  # only 5 count
    assert learning.merchant_key("Blue Bottle", "ignored") == "blue bottle coffee"  # the known merchant
    assert learning.merchant_key(None, "SQ *BLUE BOTTLE COFF 0412") == "blue bottle coffee"
    assert learning.merchant_key(None, "1234") is None


@pytest.mark.parametrize(
    "pattern",
    ["(a+)+$", "(a|aa)*b", "(x)\\1", "(?=a)b", "a{1,1000}", ".*a.*b.*c", "[", "a" * 201, "a{4294967295}"],
)
def test_costly_or_malformed_regexes_are_refused(pattern: str) -> None:
    with pytest.raises(RuleInvalid):
        regex_guard.compile_safe(pattern)


def test_an_accepted_regex_stays_fast_on_a_hostile_description() -> None:
    pattern = regex_guard.compile_safe(r"^(?:ab)+c.*d")
    started = time.perf_counter()
    regex_guard.search(pattern, "ab" * 5000 + "x")
    assert time.perf_counter() - started < 0.05
