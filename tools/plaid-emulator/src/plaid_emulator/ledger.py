"""An Item's transactions as an append-only change log, the truth that /transactions/sync pages through.

Positions start at 1. A *virtual* chunk stands for a range of historical transactions, generated in
blocks: ahead of time by `prepare` (kept, up to `prepared_limit` transactions, the newest first), the rest
lazily (kept in a small LRU); a *real* chunk holds changes appended later (added, modified,
removed), each as `(transaction_id, account_id)` with the new state in `_state`. The last entry of a
transaction is its current state; earlier entries of it are superseded.
"""

from __future__ import annotations

import bisect
import gc
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from .data.generator import BLOCK, Generator

Txn = dict[str, Any]
_CACHE_BLOCKS = 160
_COLLECT_AFTER = 40  # blocks prepared at once


class Ledger:
    def __init__(self, generator: Generator, prepared_limit: int = 0, gc_freeze: bool = False) -> None:
        self.gen = generator
        self._gc_freeze = gc_freeze
        self._settled = False
        self.count = generator.p.count
        self.head = 0
        self._prepared: list[list[Txn]] = []  # blocks 0.. generated ahead, kept for the Item's life
        self._to_prepare = -(-min(self.count, prepared_limit) // BLOCK)
        self._starts: list[int] = []  # first position of each chunk, minus one
        self._chunks: list[range | list[tuple[str, str]]] = []
        self._blocks: OrderedDict[int, list[Txn]] = OrderedDict()
        self._state: dict[str, Txn | None] = {}  # every transaction touched by a real entry
        self._last_pos: dict[str, int] = {}
        self._created_pos: dict[str, int] = {}
        self._virtual_index: dict[str, int] = {}  # touchable historical transactions (recent ones)

    # -- generating ahead ---------------------------------------------------------------------------------
    @property
    def prepared(self) -> bool:
        return len(self._prepared) >= self._to_prepare

    def prepare(self, seconds: float | None = None) -> bool:
        """Generate blocks ahead for up to `seconds` (None: until done). True once every block is."""
        deadline = None if seconds is None else time.perf_counter() + seconds
        while len(self._prepared) < self._to_prepare:
            block_no = len(self._prepared)
            cached = self._blocks.pop(block_no) if block_no in self._blocks else None
            self._prepared.append(cached or self.gen.historical_block(block_no))
            if deadline is not None and time.perf_counter() >= deadline:
                break
        return self.prepared

    def settle(self) -> None:
        """Once prepared: else the collector would scan these objects three times (young, middle, old
        generation) in the middle of the first pages served, and again at every full collection. In a
        process of its own, the emulator exempts them from collection (they hold no cycles: refcounting
        frees them with their Item); embedded in another process, it collects once, now."""
        if self._to_prepare >= _COLLECT_AFTER and not self._settled:
            self._settled = True
            if self._gc_freeze:
                gc.freeze()
            else:
                gc.collect()

    # -- building ---------------------------------------------------------------------------------------
    def append_history(self, lo: int, hi: int) -> int:
        """Make historical transactions [lo, hi) visible (index 0 is the newest). Returns how many."""
        hi = min(hi, self.count)
        if hi <= lo:
            return 0
        self._starts.append(self.head)
        self._chunks.append(range(lo, hi))
        self.head += hi - lo
        return hi - lo

    def remember(self, index: int) -> Txn:
        """Register historical transaction `index` as one that later changes may touch."""
        txn = self.historical(index)
        self._virtual_index[txn["transaction_id"]] = index
        return txn

    def add(self, txn: Txn) -> None:
        tid = txn["transaction_id"]
        self._append(tid, txn["account_id"], txn)
        self._created_pos[tid] = self.head

    def update(self, txn: Txn) -> None:
        tid = txn["transaction_id"]
        self._ensure_created(tid)
        self._append(tid, txn["account_id"], txn)

    def remove(self, tid: str) -> Txn:
        old = self.get(tid)
        if old is None:
            raise KeyError(tid)
        self._ensure_created(tid)
        self._append(tid, old["account_id"], None)
        return old

    def _append(self, tid: str, account_id: str, state: Txn | None) -> None:
        if not self._chunks or not isinstance(self._chunks[-1], list):
            self._starts.append(self.head)
            self._chunks.append([])
        chunk = self._chunks[-1]
        assert isinstance(chunk, list)
        chunk.append((tid, account_id))
        self.head += 1
        self._state[tid] = state
        self._last_pos[tid] = self.head

    def _ensure_created(self, tid: str) -> None:
        if tid not in self._created_pos:
            self._created_pos[tid] = self._virtual_position(self._virtual_index[tid])

    def _virtual_position(self, index: int) -> int:
        for start, chunk in zip(self._starts, self._chunks, strict=True):
            if isinstance(chunk, range) and index in chunk:
                return start + index - chunk.start + 1
        raise KeyError(index)

    # -- the snapshot file ------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """Which history ranges are visible and every change appended since (the history itself is
        regenerated from the generator's profile)."""
        return {
            "head": self.head,
            "starts": self._starts,
            "chunks": [
                {"range": [c.start, c.stop]} if isinstance(c, range) else {"entries": c} for c in self._chunks
            ],
            "state": self._state,
            "last_pos": self._last_pos,
            "created_pos": self._created_pos,
            "virtual_index": self._virtual_index,
        }

    def restore(self, dumped: dict[str, Any]) -> None:
        """The inverse of `dump`, on a fresh Ledger over the same generator; generates the history ahead."""
        self.head = dumped["head"]
        self._starts = list(dumped["starts"])
        self._chunks = [
            range(*c["range"]) if "range" in c else [tuple(e) for e in c["entries"]] for c in dumped["chunks"]
        ]
        self._state = dumped["state"]
        self._last_pos = dumped["last_pos"]
        self._created_pos = dumped["created_pos"]
        self._virtual_index = dumped["virtual_index"]
        self.prepare()
        self.settle()

    # -- reading ----------------------------------------------------------------------------------------
    def historical(self, index: int) -> Txn:
        block_no = index // BLOCK
        return self._block(block_no)[index - block_no * BLOCK]

    def _block(self, block_no: int) -> list[Txn]:
        if block_no < len(self._prepared):
            return self._prepared[block_no]
        block = self._blocks.get(block_no)
        if block is None:
            block = self._blocks[block_no] = self.gen.historical_block(block_no)
            if len(self._blocks) > _CACHE_BLOCKS:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(block_no)
        return block

    def get(self, tid: str) -> Txn | None:
        if tid in self._state:
            return self._state[tid]
        index = self._virtual_index.get(tid)
        return None if index is None else self.historical(index)

    def entries(self, after: int) -> Iterator[tuple[int, str, str, Txn | None]]:
        """(position, transaction_id, account_id, state at that entry if still current) after `after`."""
        i = max(bisect.bisect_right(self._starts, after) - 1, 0)
        state, last_pos = self._state, self._last_pos
        for start, chunk in zip(self._starts[i:], self._chunks[i:], strict=True):
            skip = max(after - start, 0)
            if isinstance(chunk, range):
                index, pos = chunk.start + skip, start + skip
                while index < chunk.stop:  # block by block
                    block_no, lo = divmod(index, BLOCK)
                    for txn in self._block(block_no)[lo : min(BLOCK, chunk.stop - block_no * BLOCK)]:
                        tid = txn["transaction_id"]
                        pos += 1
                        # superseded by a real entry, or current
                        yield pos, tid, txn["account_id"], None if tid in last_pos else txn
                    index = (block_no + 1) * BLOCK
            else:
                for offset in range(skip, len(chunk)):
                    tid, account_id = chunk[offset]
                    pos = start + offset + 1
                    yield pos, tid, account_id, state[tid] if last_pos[tid] == pos else None

    def is_last(self, tid: str, pos: int) -> bool:
        return self._last_pos.get(tid, pos) == pos

    def created_at(self, tid: str, pos: int) -> int:
        return self._created_pos.get(tid, pos)

    def current(self) -> Iterator[Txn]:
        """Every transaction that exists now, as a complete sync would have it."""
        for pos, tid, _, txn in self.entries(0):
            if txn is not None and self.is_last(tid, pos):
                yield txn
