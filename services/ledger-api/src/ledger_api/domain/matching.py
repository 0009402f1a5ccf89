"""Matching two lists of money movements one to one: reconciliation (expected entries against the ledger)
and CSV import dedup (file rows against what the ledger already holds) use the same rules.

A pair is a candidate when the amounts differ by at most `amount_tolerance` and the dates by at most
`date_window_days`, and the descriptions are at least `min_similarity` alike. Its score, in [0, 1]:

    0.5 * description similarity + 0.3 * date closeness + 0.2 * amount closeness

(closeness = 1 at equality, falling linearly to just above 0 at the edge of the window or tolerance).
`assign` then picks at most one partner per side so that the TOTAL score is the largest possible (the
assignment problem; scipy's linear_sum_assignment, per connected group of candidates), never greedy
first-come: a row that could take either of two partners leaves the one another row needs.
"""

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

SIMILARITY_WEIGHT, DATE_WEIGHT, AMOUNT_WEIGHT = 0.5, 0.3, 0.2
_WORDS = re.compile(r"[^a-z]+")


@dataclass(frozen=True)
class Rules:
    amount_tolerance: Decimal = Decimal("0.00")
    date_window_days: int = 3
    min_similarity: float = 0.0


class Side(NamedTuple):
    """One movement as matching sees it (Plaid's sign: positive = money out)."""

    amount: Decimal
    day: date
    texts: tuple[str, ...]  # its descriptions (a ledger row: name, merchant name, original description)


class Pair(NamedTuple):
    left: int
    right: int
    score: float
    similarity: float
    days_apart: int
    amount_difference: Decimal


@functools.lru_cache(maxsize=65_536)  # descriptions repeat (merchants): each text is normalized once
def normalize(text: str) -> str:
    """Letters only, lower case, single spaces: store numbers, card digits and punctuation say nothing."""
    return " ".join(_WORDS.split(text.lower())).strip()


@functools.lru_cache(maxsize=65_536)
def trigrams(text: str) -> frozenset[str]:
    padded = f"  {text} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def similarity(a: str, b: str) -> float:
    """Dice coefficient of the letter trigrams of the normalized texts (1.0 = same words)."""
    na, nb = normalize(a), normalize(b)
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    ta, tb = trigrams(na), trigrams(nb)
    return 2 * len(ta & tb) / (len(ta) + len(tb))


def best_similarity(left: Iterable[str], right: Iterable[str]) -> float:
    rights = [r for r in right if r]
    return max((similarity(a, b) for a in left if a for b in rights), default=0.0)


def score(rules: Rules, i: int, left: Side, j: int, right: Side) -> Pair | None:
    """The candidate pair (left `i`, right `j`) with its score, or None when out of the rules' bounds."""
    difference = abs(left.amount - right.amount)
    days = abs((left.day - right.day).days)
    if difference > rules.amount_tolerance or days > rules.date_window_days:
        return None
    alike = best_similarity(left.texts, right.texts)
    if alike < rules.min_similarity:
        return None
    date_closeness = 1 - days / (rules.date_window_days + 1)
    amount_closeness = 1 - float(difference / (rules.amount_tolerance + Decimal("0.01")))
    total = SIMILARITY_WEIGHT * alike + DATE_WEIGHT * date_closeness + AMOUNT_WEIGHT * amount_closeness
    return Pair(i, j, round(total, 6), round(alike, 4), days, difference)


def assign(pairs: Sequence[Pair]) -> list[Pair]:
    """The candidate pairs kept: each left and each right at most once, the total score the largest.

    Candidates are split into connected groups (rows that share no candidate never compete); a group of
    one pair is taken as it is, a larger one is solved as an assignment problem. Every candidate scores
    above 0, so a cell that is not a candidate (0) is never chosen over leaving a row unmatched."""
    groups = _groups(pairs)
    kept: list[Pair] = []
    for group in groups:
        if len(group) == 1:
            kept.append(group[0])
            continue
        # imported here, on the first group that needs it: numpy and scipy cost ~1.8 s of CPU to import,
        # which every start of the service (and its health check) would otherwise pay
        import numpy as np
        from scipy.optimize import linear_sum_assignment

        lefts = sorted({p.left for p in group})
        rights = sorted({p.right for p in group})
        li = {v: i for i, v in enumerate(lefts)}
        ri = {v: i for i, v in enumerate(rights)}
        weights = np.zeros((len(lefts), len(rights)))
        by_cell: dict[tuple[int, int], Pair] = {}
        for p in group:
            cell = (li[p.left], ri[p.right])
            weights[cell] = p.score
            by_cell[cell] = p
        rows, cols = linear_sum_assignment(weights, maximize=True)
        kept.extend(by_cell[c] for c in zip(rows.tolist(), cols.tolist(), strict=True) if c in by_cell)
    kept.sort(key=lambda p: (p.left, p.right))
    return kept


def _groups(pairs: Sequence[Pair]) -> list[list[Pair]]:
    """Pairs grouped by connected component (union-find over left and right ids)."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(x: tuple[str, int]) -> tuple[str, int]:
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for p in pairs:
        a, b = find(("l", p.left)), find(("r", p.right))
        if a != b:
            parent[a] = b
    groups: dict[tuple[str, int], list[Pair]] = defaultdict(list)
    for p in pairs:
        groups[find(("l", p.left))].append(p)
    return list(groups.values())
