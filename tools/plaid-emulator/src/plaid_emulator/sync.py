"""/transactions/sync paging over a Ledger: opaque cursors, collapsing, and mutation detection.

A cursor is base64url of (version, item key, position, run start, run head, account key). `run start` is
the position the client held when its pagination run began: whether a transaction is `added` or `modified`
depends on whether it existed then. `run head` is the log length when the run began (0 when the page had
has_more = false): if the log has grown since, the run is void (TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any

from .errors import PlaidApiError
from .ledger import Ledger, Txn

_FORMAT = "!B8sQQQ8s"
_VERSION = 1
_NO_ACCOUNT = bytes(8)


@dataclass(frozen=True)
class Cursor:
    item_key: bytes
    pos: int
    run_start: int
    run_head: int
    account_key: bytes

    def encode(self) -> str:
        raw = struct.pack(
            _FORMAT, _VERSION, self.item_key, self.pos, self.run_start, self.run_head, self.account_key
        )
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def key_of(*parts: str) -> bytes:
    return hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest()


def decode(text: str, item_key: bytes, account_key: bytes) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        version, *rest = struct.unpack(_FORMAT, raw)
    except (binascii.Error, struct.error, ValueError):
        raise PlaidApiError("INVALID_FIELD", "cursor is not valid") from None
    cursor = Cursor(*rest)
    if version != _VERSION or cursor.item_key != item_key:
        raise PlaidApiError("INVALID_FIELD", "cursor is not valid for this item")
    if cursor.account_key != account_key:
        raise PlaidApiError("INVALID_FIELD", "cursor was created for a different options.account_id")
    return cursor


@dataclass
class Page:
    added: list[Txn] = field(default_factory=list)
    modified: list[Txn] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str = ""
    has_more: bool = False


def page(ledger: Ledger, item_key: bytes, cursor_text: str, count: int, account_id: str | None) -> Page:
    account_key = key_of(account_id) if account_id else _NO_ACCOUNT
    if cursor_text:
        cursor = decode(cursor_text, item_key, account_key)
        if cursor.run_head and cursor.run_head != ledger.head:
            raise PlaidApiError("TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")
        pos, run_start = cursor.pos, cursor.run_start
    else:
        pos = run_start = 0
    head = ledger.head
    out = Page()
    emitted = 0
    consumed = pos
    for entry_pos, tid, acct, txn in ledger.entries(pos):
        if emitted == count:
            break
        consumed = entry_pos
        if account_id and acct != account_id:
            continue
        if not ledger.is_last(tid, entry_pos):
            continue
        existed = ledger.created_at(tid, entry_pos) <= run_start
        if txn is None:
            if not existed:
                continue
            out.removed.append({"account_id": acct, "transaction_id": tid})
        elif existed:
            out.modified.append(txn)
        else:
            out.added.append(txn)
        emitted += 1
    else:
        consumed = head
    out.has_more = consumed < head
    nxt = Cursor(
        item_key, consumed, run_start if out.has_more else consumed, head if out.has_more else 0, account_key
    )
    out.next_cursor = nxt.encode()
    return out
