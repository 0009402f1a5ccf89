"""Plaid's personal finance category taxonomy (PFCv2 with its v1 mapping), shipped as package data."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Category:
    primary: str
    detailed: str
    v1_primary: str
    v1_detailed: str


@functools.cache
def taxonomy() -> dict[str, Category]:
    """Detailed v2 code -> category. A v2-only code maps to its own code in v1."""
    text = resources.files(__package__).joinpath("pfc-taxonomy-all.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    out: dict[str, Category] = {}
    for row in rows[1:]:
        if len(row) < 5 or not row[1] or row[0].startswith("Note"):
            continue
        primary, detailed, _, v1_primary, v1_detailed = (c.strip() for c in row[:5])
        if " / " in v1_primary or not v1_detailed:
            v1_primary, v1_detailed = primary, detailed
        out[detailed] = Category(primary, detailed, v1_primary, v1_detailed)
    return out


def category(detailed: str) -> Category:
    try:
        return taxonomy()[detailed]
    except KeyError:
        raise ValueError(f"{detailed} is not a PFCv2 detailed category") from None


def render(detailed: str, confidence: str, version: str) -> dict[str, str]:
    cat = category(detailed)
    if version == "v1":
        return {
            "primary": cat.v1_primary,
            "detailed": cat.v1_detailed,
            "confidence_level": confidence,
            "version": "v1",
        }
    return {"primary": cat.primary, "detailed": cat.detailed, "confidence_level": confidence, "version": "v2"}


def icon_url(detailed: str) -> str:
    return f"https://plaid-category-icons.plaid.com/PFC_{category(detailed).primary}.png"
