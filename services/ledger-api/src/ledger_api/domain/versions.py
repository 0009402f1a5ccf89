"""The ordering rules of the projections: which of two states of one entity wins.

* transactions: the higher TransactionCategorized `version` (per transaction_id, +1 for every event the
  categorizer emits); an equal or lower one is stale and changes nothing, so a redelivery or a late
  event cannot move a row backwards. A removal is a version like any other (a tombstone).
* accounts: the later `as_of` (an equal one wins: the same partition delivers one account in order);
  balance history keeps, per account and UTC day, the point with the latest `as_of`.
* items: status by `changed_at` (removal is terminal), sync outcomes by `finished_at`.

A set-based statement may touch a row only once, so a batch holding several events of one entity is
applied in rounds: round k holds the k-th event of each entity, in batch order.
"""

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


def rounds(items: Sequence[T], key: Callable[[T], Hashable]) -> list[list[T]]:
    """Split `items` so that no round holds two items of one key; each key's items keep their order."""
    out: list[list[T]] = []
    seen: dict[Hashable, int] = {}
    for item in items:
        k = key(item)
        n = seen.get(k, 0)
        seen[k] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(item)
    return out
