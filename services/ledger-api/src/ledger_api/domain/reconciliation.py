"""A reconciliation's answer from the ledger's candidates (pure: the handler fetches, this decides).

Entries and transactions are matched one to one by domain.matching (assignment maximizing the total
score); every entry is either matched or unmatched, and every transaction of the span the entries cover
(their dates widened by the window, in their accounts) that no entry took is listed as unmatched.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from . import matching

# What one reconciliation may weigh: the (entry, transaction) pairs within its tolerance and window, each
# scored in Python, and the transactions of the span it answers for. Past them the request is refused
# (422) instead of holding the process: 5,000 entries against 200 transactions at a wide tolerance were
# 1,000,000 pairs, 15 s of CPU and 1 GB of memory.
MAX_CANDIDATE_PAIRS = 50_000
MAX_COVERED = 20_000


@dataclass(frozen=True)
class Entry:
    amount: Decimal  # Plaid's sign: positive = money out
    day: date
    description: str
    account_id: str | None = None
    reference: str | None = None  # the caller's own id of the entry, echoed back

    def side(self) -> matching.Side:
        return matching.Side(self.amount, self.day, (self.description,))

    def view(self, index: int) -> dict[str, Any]:
        return {
            "index": index,
            "reference": self.reference,
            "amount": float(self.amount),
            "date": self.day.isoformat(),
            "description": self.description,
            "account_id": self.account_id,
        }


def transaction_side(row: Mapping[str, Any]) -> matching.Side:
    texts = (row["name"] or "", row["merchant_name"] or "", row["original_description"] or "")
    return matching.Side(row["amount"], row["date"], texts)


def transaction_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "transaction_id": row["transaction_id"],
        "account_id": row["account_id"],
        "amount": float(row["amount"]),
        "date": row["date"].isoformat(),
        "name": row["name"],
        "merchant_name": row["merchant_name"],
        "pending": row["pending"],
    }


def span(entries: Sequence[Entry], window: int) -> tuple[date, date]:
    days = [e.day for e in entries]
    return _shift(min(days), -window), _shift(max(days), window)


def _shift(day: date, days: int) -> date:
    """`day` moved by `days`, held within the calendar (an entry dated 0001-01-01 is no server error)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.min if days < 0 else date.max


def reconcile(
    entries: Sequence[Entry],
    candidates: Sequence[Mapping[str, Any]],  # each: `entry` (index) and a transaction's columns
    covered: Sequence[Mapping[str, Any]],
    rules: matching.Rules,
) -> dict[str, Any]:
    transactions: dict[str, Mapping[str, Any]] = {}
    order: list[str] = []
    position: dict[str, int] = {}
    pairs: list[matching.Pair] = []
    for row in candidates:
        tid = row["transaction_id"]
        if tid not in transactions:
            transactions[tid] = row
            position[tid] = len(order)
            order.append(tid)
        pair = matching.score(
            rules, row["entry"], entries[row["entry"]].side(), position[tid], transaction_side(row)
        )
        if pair is not None:
            pairs.append(pair)
    kept = matching.assign(pairs)
    matched_entries = {p.left for p in kept}
    matched_ids = {order[p.right] for p in kept}
    matched = [
        {
            "entry": entries[p.left].view(p.left),
            "transaction": transaction_view(transactions[order[p.right]]),
            "score": p.score,
            "similarity": p.similarity,
            "days_apart": p.days_apart,
            "amount_difference": float(p.amount_difference),
        }
        for p in kept
    ]
    unmatched_entries = [e.view(i) for i, e in enumerate(entries) if i not in matched_entries]
    unmatched_transactions = [transaction_view(r) for r in covered if r["transaction_id"] not in matched_ids]
    return {
        "matched": matched,
        "unmatched_entries": unmatched_entries,
        "unmatched_transactions": unmatched_transactions,
        "summary": {
            "entries": len(entries),
            "matched": len(matched),
            "unmatched_entries": len(unmatched_entries),
            "unmatched_transactions": len(unmatched_transactions),
            "matched_amount": float(sum((entries[p.left].amount for p in kept), Decimal(0))),
        },
    }
