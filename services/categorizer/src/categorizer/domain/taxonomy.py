"""PLACEHOLDER (branch h5-categorizer): replaced by the model branch (h4-model) at merge.

The PFC v2 taxonomy, read from data/pfc-taxonomy-all.csv: `is_valid(detailed)`, `primary_of(detailed)`.
"""

import csv
import functools
from importlib import resources

UNCATEGORIZED_PRIMARY = "OTHER"
UNCATEGORIZED_DETAILED = "OTHER_OTHER"


@functools.cache
def _detailed_to_primary() -> dict[str, str]:
    text = resources.files("categorizer").joinpath("data/pfc-taxonomy-all.csv").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for row in csv.reader(text.splitlines()):
        if len(row) >= 2 and row[1].startswith(row[0] + "_") and row[0].isupper():
            out[row[1]] = row[0]
    return out


def is_valid(detailed: str) -> bool:
    return detailed in _detailed_to_primary()


def primary_of(detailed: str) -> str:
    """The primary of a valid detailed category (KeyError otherwise)."""
    return _detailed_to_primary()[detailed]
