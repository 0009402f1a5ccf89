"""The duplicate-Item rule, applied to Link's onSuccess metadata BEFORE the public token is exchanged.

A link is a duplicate when the same user already has a live (not removed) Item at the same institution
and at least one account of the new link matches one of that Item's accounts. Accounts match by mask
(the last digits Plaid shows); an account without a mask matches by (type, subtype, name) instead.
Exchanging first and checking afterwards would already have created a billable Item at Plaid.
"""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class AccountFingerprint:
    mask: str | None
    name: str | None = None
    type: str | None = None
    subtype: str | None = None

    def key(self) -> tuple[str, ...]:
        if self.mask:
            return ("mask", self.mask)
        return ("name", self.type or "", self.subtype or "", (self.name or "").strip().lower())


@dataclass(frozen=True)
class LinkedItem:
    item_id: str
    user_id: str
    institution_id: str | None
    accounts: tuple[AccountFingerprint, ...]


def find_duplicate(
    user_id: str,
    institution_id: str | None,
    accounts: Iterable[AccountFingerprint],
    existing: Iterable[LinkedItem],
) -> LinkedItem | None:
    """The user's live Item this link would duplicate, or None. `existing` holds live Items only."""
    if not institution_id:
        return None
    wanted = {a.key() for a in accounts}
    for item in existing:
        if item.user_id != user_id or item.institution_id != institution_id:
            continue
        if wanted & {a.key() for a in item.accounts}:
            return item
    return None
