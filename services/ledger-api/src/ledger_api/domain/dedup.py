"""Which rows of a CSV batch the ledger already holds, the way Actual Budget decides it: the bank's id of
the line first (or the very line of an earlier import), else a transaction of the same account within the
amount tolerance and the date window, preferring the most similar description and the closest date.
Each ledger row is taken by at most one line of an import, by the assignment that maximizes the total
score (domain.matching), not by whichever line came first.
"""

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from . import matching
from .csv_layouts import Row


class Duplicate(NamedTuple):
    row: int  # its index into the batch
    of: str  # the ledger's (or an earlier import's) transaction_id
    how: str  # same_id | imported_id | fuzzy
    pair: matching.Pair | None = None

    def detail(self, candidate: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "transaction_id": self.of,
            "how": self.how,
            "date": candidate["date"].isoformat() if candidate["date"] else None,
            "amount": float(candidate["amount"]) if candidate["amount"] is not None else None,
            "description": candidate["name"] or candidate["merchant_name"],
        }
        if self.pair is not None:
            out |= {
                "score": self.pair.score,
                "similarity": self.pair.similarity,
                "days_apart": self.pair.days_apart,
            }
        return out


def find_duplicates(
    batch: Sequence[Row],
    candidates: Sequence[Mapping[str, Any]],  # each: k (index into batch), transaction_id, how, columns
    taken: set[str],
    rules: matching.Rules,
) -> tuple[list[Duplicate], dict[str, Mapping[str, Any]]]:
    """The batch's duplicates (each with what it duplicates) and the candidates by transaction_id."""
    by_id: dict[str, Mapping[str, Any]] = {}
    exact: dict[int, Duplicate] = {}
    for c in candidates:
        by_id.setdefault(c["transaction_id"], c)
        if c["how"] != "fuzzy" and c["k"] not in exact:
            exact[c["k"]] = Duplicate(c["k"], c["transaction_id"], c["how"])
    claimed = taken | {d.of for d in exact.values()}
    ids: list[str] = []
    position: dict[str, int] = {}
    pairs: list[matching.Pair] = []
    for c in candidates:
        k, tid = c["k"], c["transaction_id"]
        if c["how"] != "fuzzy" or k in exact or tid in claimed:
            continue
        if tid not in position:
            position[tid] = len(ids)
            ids.append(tid)
        row = batch[k]
        texts = (c["name"] or "", c["merchant_name"] or "", c["original_description"] or "")
        pair = matching.score(
            rules,
            k,
            matching.Side(row.amount, row.day, (row.description,)),
            position[tid],
            matching.Side(c["amount"], c["date"], texts),
        )
        if pair is not None:
            pairs.append(pair)
    fuzzy = [Duplicate(p.left, ids[p.right], "fuzzy", p) for p in matching.assign(pairs)]
    return sorted([*exact.values(), *fuzzy], key=lambda d: d.row), by_id
