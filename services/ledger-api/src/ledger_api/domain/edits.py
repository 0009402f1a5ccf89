"""A user's edit of a transaction: what it changes, and the category the ledger showed before it."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .categories import Category
from .views import effective_category


@dataclass(frozen=True)
class TransactionEdit:
    """Fields left None are not touched; `sets_category` tells "clear the override" (category None)
    from "leave it alone". An empty string clears the notes."""

    sets_category: bool = False
    category: Category | None = None
    notes: str | None = None
    tags: tuple[str, ...] | None = None
    hidden: bool | None = None

    def changes_category(self, row: Mapping[str, Any]) -> bool:
        """True when the edit moves the user's override (so the categorizer must hear about it)."""
        if not self.sets_category:
            return False
        new = self.category.detailed if self.category else None
        return bool(new != row["user_category_detailed"])


def previous_category(row: Mapping[str, Any]) -> dict[str, str] | None:
    shown = effective_category(row)
    if shown is None:
        return None
    return {"primary": shown["primary"], "detailed": shown["detailed"], "source": shown["source"]}
