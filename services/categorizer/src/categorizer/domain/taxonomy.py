"""Plaid's personal finance category taxonomy, PFC v2: 18 primaries, 127 detailed codes.

Read once from the package's copy of Plaid's published `pfc-taxonomy-all.csv` (the 127-code superset; see
`categorizer/data/README.md`). `primary_of` looks a code up in the file rather than guessing from its prefix.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources

DATA_FILE = "pfc-taxonomy-all.csv"
UNCATEGORIZED = "OTHER_OTHER"


@dataclass(frozen=True, slots=True)
class Category:
    primary: str
    detailed: str
    description: str


def read_data_file(name: str) -> str:
    """The text of one of the package's data files (`categorizer/data/<name>`)."""
    return resources.files("categorizer").joinpath("data", name).read_text(encoding="utf-8")


@functools.cache
def categories() -> tuple[Category, ...]:
    """Every PFC v2 detailed category, in the file's order."""
    rows = csv.reader(io.StringIO(read_data_file(DATA_FILE)))
    header = next(rows)
    if header[:3] != ["PFCv2 Primary", "PFCv2 Detailed", "PFCv2 Description"]:
        raise ValueError(f"{DATA_FILE}: unexpected header {header[:3]}")
    out = []
    for row in rows:
        # the published file carries one note line under its header; real rows have both codes in upper case
        if len(row) < 3 or not row[1].isupper() or not row[1].startswith(row[0]):
            continue
        out.append(Category(primary=row[0], detailed=row[1], description=row[2]))
    return tuple(out)


@functools.cache
def _by_detailed() -> dict[str, Category]:
    return {c.detailed: c for c in categories()}


def is_valid(detailed: str) -> bool:
    """True for a PFC v2 detailed code (`FOOD_AND_DRINK_COFFEE`); primaries are not detailed codes."""
    return detailed in _by_detailed()


def primary_of(detailed: str) -> str:
    """The primary of a detailed code; KeyError for a code outside the taxonomy."""
    return _by_detailed()[detailed].primary


def description_of(detailed: str) -> str:
    return _by_detailed()[detailed].description


@functools.cache
def primaries() -> tuple[str, ...]:
    """The 18 primaries, in the file's order."""
    return tuple(dict.fromkeys(c.primary for c in categories()))
