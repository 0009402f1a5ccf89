"""The duplicate rule: same user, same institution, overlapping accounts; anything else links."""

from link_svc.domain.duplicates import AccountFingerprint as A
from link_svc.domain.duplicates import LinkedItem, find_duplicate

EXISTING = [
    LinkedItem("item-1", "alice", "ins_109508", (A("0000", "Checking"), A("1111", "Savings"))),
    LinkedItem("item-2", "alice", "ins_109509", (A("2222", "Card"),)),
    LinkedItem("item-3", "bob", "ins_109508", (A("3333", "Checking"),)),
]


def test_same_user_institution_and_a_shared_mask_is_a_duplicate() -> None:
    found = find_duplicate("alice", "ins_109508", [A("1111", "Savings"), A("9999", "New")], EXISTING)
    assert found is not None and found.item_id == "item-1"


def test_other_user_other_institution_or_disjoint_accounts_are_not() -> None:
    assert find_duplicate("bob", "ins_109508", [A("0000")], EXISTING) is None
    assert find_duplicate("alice", "ins_109510", [A("0000")], EXISTING) is None
    assert find_duplicate("alice", "ins_109508", [A("4444")], EXISTING) is None
    assert find_duplicate("alice", None, [A("0000")], EXISTING) is None


def test_accounts_without_a_mask_match_by_type_subtype_and_name() -> None:
    existing = [LinkedItem("i", "u", "ins", (A(None, "Plaid Checking", "depository", "checking"),))]
    assert find_duplicate("u", "ins", [A(None, " plaid checking", "depository", "checking")], existing)
    assert find_duplicate("u", "ins", [A(None, "Plaid Checking", "depository", "savings")], existing) is None
