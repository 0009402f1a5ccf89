"""Plaid's personal finance categories (PFC v2): which primary and detailed values exist.

The taxonomy is Plaid's CSV, shipped in ledger_api/data; a category a user sets or filters by must be
one of its values (a detailed one for an edit; primary or detailed for a filter).
"""

import csv
import io
from dataclasses import dataclass
from importlib import resources

from .errors import InvalidQuery


@dataclass(frozen=True)
class Category:
    primary: str
    detailed: str


class Taxonomy:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.primary_of = {detailed: primary for primary, detailed in pairs}
        self.primaries = frozenset(self.primary_of.values())

    def detailed(self, value: str) -> Category:
        """The category named by a PFC detailed value; InvalidQuery for anything else."""
        primary = self.primary_of.get(value)
        if primary is None:
            raise InvalidQuery("category", f"{value[:60]!r} is not a PFC v2 detailed category")
        return Category(primary, value)

    def level(self, value: str) -> str:
        """'primary' or 'detailed' for a filter value; InvalidQuery for an unknown one."""
        if value in self.primaries:
            return "primary"
        if value in self.primary_of:
            return "detailed"
        raise InvalidQuery("category", f"{value[:60]!r} is neither a PFC v2 primary nor detailed category")


def load() -> Taxonomy:
    text = (resources.files("ledger_api") / "data" / "pfc-taxonomy-all.csv").read_text(encoding="utf-8")
    pairs = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 2 and row[0].isupper() and row[1].startswith(row[0]):
            pairs.append((row[0], row[1]))
    return Taxonomy(pairs)
