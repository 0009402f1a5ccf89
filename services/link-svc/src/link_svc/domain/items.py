"""An Item as link-svc knows it: who owns it, where it connects, how healthy it is, and its accounts."""

from dataclasses import dataclass, field
from datetime import datetime

from .duplicates import AccountFingerprint, LinkedItem
from .events import Account
from .item_state import ItemStatus


@dataclass(frozen=True)
class StatusChange:
    from_status: ItemStatus
    to_status: ItemStatus
    trigger: str
    code: str | None
    changed_at: datetime


@dataclass(frozen=True)
class Item:
    item_id: str
    user_id: str
    institution_id: str | None
    institution_name: str | None
    status: ItemStatus
    status_code: str | None
    products: list[str]
    created_at: datetime
    updated_at: datetime
    removed_at: datetime | None
    accounts: list[Account] = field(default_factory=list)

    @property
    def removed(self) -> bool:
        return self.status is ItemStatus.REMOVED

    def as_linked(self) -> LinkedItem:
        return LinkedItem(
            item_id=self.item_id,
            user_id=self.user_id,
            institution_id=self.institution_id,
            accounts=tuple(AccountFingerprint(a.mask, a.name, a.type, a.subtype) for a in self.accounts),
        )
