"""Cursors are client input: a forged one is refused as malformed (400), never passed to PostgreSQL."""

import base64
import json

import pytest
from ledger_api.domain.cursors import decode_feed, decode_transactions
from ledger_api.domain.errors import InvalidCursor


def forged(payload: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"v": 1, **payload}).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("sort", "position"),
    [
        ("amount_desc", ["1e-16384", "t-1"]),  # the driver refused to encode it: a 500
        ("amount_desc", ["1e20", "t-1"]),  # beyond numeric(18,2)
        ("amount_desc", ["12.345", "t-1"]),  # the ledger's amounts have cents at most
        ("date_desc", ["2026-11-01", "t\x00"]),  # NUL: PostgreSQL refuses it in text
        ("date_desc", ["2026-11-01", "t\ud800"]),  # a lone surrogate: not encodable
    ],
)
def test_a_forged_position_is_malformed(sort: str, position: list[str]) -> None:
    with pytest.raises(InvalidCursor):
        decode_transactions(
            forged({"k": "tx", "s": sort, "p": position, "f": "h"}), sort=sort, query_hash="h"
        )


def test_a_genuine_position_still_reads() -> None:
    got = decode_transactions(
        forged({"k": "tx", "s": "amount_desc", "p": ["-12.30", "t-1"], "f": "h"}),
        sort="amount_desc",
        query_hash="h",
    )
    assert str(got.key) == "-12.30" and got.transaction_id == "t-1"


@pytest.mark.parametrize("txid", ["\u00b2", "\u0661\u0662", "-1", ""])  # superscript two, Arabic-Indic digits
def test_a_feed_cursor_with_other_digits_is_malformed(txid: str) -> None:
    """str.isdigit() accepts them, int() did not: a ValueError, a 500 on /v1/changes and /v1/stream."""
    with pytest.raises(InvalidCursor):
        decode_feed(forged({"k": "ch", "t": txid, "q": 0}))
