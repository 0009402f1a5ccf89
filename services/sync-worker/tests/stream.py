"""What a consumer of bankstream.transactions would hold: the stream deduplicated by event id, applied in
`sync_sequence` order per Item, compared field by field with the emulator's ground truth."""

from collections import defaultdict
from typing import Any

from aiokafka.structs import ConsumerRecord
from bankstream_common.envelope import Envelope

META = {"change", "item_id", "sync_sequence", "run_id", "position"}


def decode(records: list[ConsumerRecord[bytes, bytes]]) -> list[Envelope]:
    """Envelopes in the order they sit on their partitions, first copy of each event id only."""
    seen: set[str] = set()
    out = []
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = Envelope.from_json(r.value)
        assert r.key is not None and r.key.decode() == event.subject
        if str(event.id) not in seen:
            seen.add(str(event.id))
            out.append(event)
    return out


def apply(events: list[Envelope], item_id: str) -> tuple[dict[str, dict[str, Any]], list[int]]:
    """The Item's transactions after applying its changes in sync_sequence order; and those sequences."""
    mine = sorted((e for e in events if e.data["item_id"] == item_id), key=lambda e: e.data["sync_sequence"])
    state: dict[str, dict[str, Any]] = {}
    for e in mine:
        d = e.data
        if d["change"] == "removed":
            state.pop(d["transaction_id"], None)
        else:
            state[d["transaction_id"]] = d
    return state, [e.data["sync_sequence"] for e in mine]


def per_account_in_order(events: list[Envelope]) -> bool:
    """Within each account (= each record key), the sequence numbers only grow."""
    last: dict[str, int] = defaultdict(int)
    for e in events:
        seq = e.data["sync_sequence"]
        if seq <= last[e.subject]:
            return False
        last[e.subject] = seq
    return True


def _same(published: Any, truth: Any) -> bool:
    if isinstance(truth, dict) and isinstance(published, dict):
        return all(_same(published.get(k), v) for k, v in truth.items() if k in published)
    if isinstance(truth, list) and isinstance(published, list):
        return len(truth) == len(published) and all(
            _same(p, t) for p, t in zip(published, truth, strict=True)
        )
    return bool(published == truth)


def differences(state: dict[str, dict[str, Any]], truth: dict[str, Any]) -> list[str]:
    """Every way the applied stream differs from the ground truth (empty = equal)."""
    expected = {t["transaction_id"]: t for t in truth["transactions"]}
    problems = [f"missing {tid}" for tid in expected.keys() - state.keys()]
    problems += [f"unexpected {tid}" for tid in state.keys() - expected.keys()]
    for tid in expected.keys() & state.keys():
        got, want = state[tid], expected[tid]
        for key, value in got.items():
            if key in META or key not in want:
                continue
            if not _same(value, want[key]):
                problems.append(f"{tid}.{key}: published {value!r}, truth {want[key]!r}")
    return problems


class DistinctEvents:
    """A `until=` predicate for a topic reader: true once `n` distinct event ids were read."""

    def __init__(self, n: int) -> None:
        self.n, self._seen, self._looked = n, set[str](), 0

    def __call__(self, records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        for r in records[self._looked :]:
            self._seen.add(str(Envelope.from_json(r.value).id))
        self._looked = len(records)
        return len(self._seen) >= self.n
