"""What a transaction list asks for, checked before any SQL: filters, sort, page size.

The rules the types cannot say are checked here (an inverted range, an unknown category) and refused
with InvalidQuery naming the parameter. `fingerprint()` is what a cursor is bound to.
"""

from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

from .categories import Taxonomy
from .cursors import filter_hash
from .errors import InvalidQuery

MAX_LIMIT = 500
DEFAULT_LIMIT = 100


class Sort(StrEnum):
    DATE_DESC = "date_desc"
    DATE_ASC = "date_asc"
    AMOUNT_DESC = "amount_desc"
    AMOUNT_ASC = "amount_asc"

    @property
    def column(self) -> str:
        return "date" if self.value.startswith("date") else "amount"

    @property
    def descending(self) -> bool:
        return self.value.endswith("desc")


@dataclass(frozen=True)
class TransactionFilter:
    user_id: str
    account_id: str | None = None
    item_id: str | None = None
    from_date: date | None = None
    to_date: date | None = None
    category: str | None = None  # a PFC v2 primary or detailed value
    q: str | None = None  # text in the merchant name or the description
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    pending: bool | None = None
    include_removed: bool = False
    sort: Sort = Sort.DATE_DESC
    category_level: str | None = None  # "primary" | "detailed": set by check()
    category_primary: str | None = None  # the primary of `category`: set by check()

    def check(self, taxonomy: Taxonomy) -> "TransactionFilter":
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise InvalidQuery("from", "the date range is inverted: from must be on or before to")
        if self.amount_min is not None and self.amount_max is not None and self.amount_min > self.amount_max:
            raise InvalidQuery("amount_min", "the amount range is inverted: amount_min > amount_max")
        if self.q is not None and not self.q.strip():
            raise InvalidQuery("q", "q must contain some text")
        if self.category is None:
            return self
        level = taxonomy.level(self.category)
        primary = self.category if level == "primary" else taxonomy.primary_of[self.category]
        return replace(self, category_level=level, category_primary=primary)

    def fingerprint(self) -> str:
        """What a cursor is bound to: every filter, the sort and the acting user (the fields as they are:
        all immutable, so not copied as `dataclasses.asdict` would)."""
        return filter_hash({f.name: getattr(self, f.name) for f in fields(self)})
