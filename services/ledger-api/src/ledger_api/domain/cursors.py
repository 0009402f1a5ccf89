"""Opaque keyset cursors: what a client hands back to get the next page, validated on the way in.

A cursor is base64url(JSON) of `{"v": 1, "k": <kind>, ...}` and nothing a client should build or read:

    transactions   {"k": "tx", "s": "<sort>", "p": [<sort key>, "<transaction_id>"], "f": "<filter hash>"}
    changes        {"k": "ch", "t": "<txid>", "q": <seq>}

The transaction cursor carries the hash of the query it was issued for (filters, sort and the acting
user); used with any other query it is refused, since its position means nothing there. Decoding checks
every field's type, so a forged cursor is an InvalidCursor, never a database error.
"""

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import InvalidCursor

VERSION = 1
MAX_LENGTH = 1024
MONEY_LIMIT = Decimal("1e16")  # transactions.amount is numeric(18,2)


def _encode(payload: dict[str, Any]) -> str:
    raw = json.dumps({"v": VERSION, **payload}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, kind: str) -> dict[str, Any]:
    if len(cursor) > MAX_LENGTH:
        raise InvalidCursor("the cursor is too long to be one of ours")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("the cursor is malformed: pass back the next_cursor of a response") from None
    if not isinstance(payload, dict) or payload.get("v") != VERSION or payload.get("k") != kind:
        raise InvalidCursor("the cursor is not a cursor of this endpoint")
    return payload


def filter_hash(query: dict[str, Any]) -> str:
    """A short digest of everything that defines a result set (not the cursor, not the limit)."""
    canonical = json.dumps(query, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TransactionPosition:
    """The last row a page returned: its sort key (a date or an amount) and its id, the tie-breaker."""

    sort: str
    key: date | Decimal
    transaction_id: str


def encode_transactions(position: TransactionPosition, query_hash: str) -> str:
    return _encode(
        {"k": "tx", "s": position.sort, "p": [str(position.key), position.transaction_id], "f": query_hash}
    )


def decode_transactions(cursor: str, *, sort: str, query_hash: str) -> TransactionPosition:
    payload = _decode(cursor, "tx")
    position, their_sort, their_hash = payload.get("p"), payload.get("s"), payload.get("f")
    if not (
        isinstance(position, list)
        and len(position) == 2
        and all(
            isinstance(p, str) and 0 < len(p) <= 200 and p.isascii() and p.isprintable() for p in position
        )
        and isinstance(their_sort, str)
        and isinstance(their_hash, str)
    ):
        raise InvalidCursor("the cursor is malformed: pass back the next_cursor of a response")
    if their_sort != sort or their_hash != query_hash:
        raise InvalidCursor(
            "this cursor was issued for other filters or another sort: repeat the query it came from, "
            "or start again without a cursor"
        )
    raw_key, transaction_id = position
    key: date | Decimal
    try:
        key = date.fromisoformat(raw_key) if sort.startswith("date") else Decimal(raw_key)
    except (ValueError, InvalidOperation):
        raise InvalidCursor("the cursor is malformed: pass back the next_cursor of a response") from None
    if isinstance(key, Decimal) and not (  # what numeric(18,2) holds: a forged 1e-16384 was a 500
        key.is_finite() and abs(key) < MONEY_LIMIT and key.as_tuple().exponent >= -2  # type: ignore[operator]
    ):
        raise InvalidCursor("the cursor is malformed: pass back the next_cursor of a response")
    return TransactionPosition(sort, key, transaction_id)


@dataclass(frozen=True)
class FeedPosition:
    """A place in the change feed: the (txid, seq) of the last change served."""

    txid: int
    seq: int


START = FeedPosition(0, 0)


def encode_feed(position: FeedPosition) -> str:
    return _encode({"k": "ch", "t": str(position.txid), "q": position.seq})


def decode_feed(cursor: str) -> FeedPosition:
    payload = _decode(cursor, "ch")
    txid, seq = payload.get("t"), payload.get("q")
    if not (
        isinstance(txid, str)
        and txid.isascii()
        and txid.isdigit()
        and len(txid) <= 20
        and isinstance(seq, int)
    ):
        raise InvalidCursor("the cursor is malformed: pass back the next_cursor of a response")
    if isinstance(seq, bool) or not (0 <= seq < 2**63) or int(txid) >= 2**63:
        raise InvalidCursor("the cursor is malformed: pass back the next_cursor of a response")
    return FeedPosition(int(txid), seq)
