"""JSON from outside is parsed with bounded depth: a RecursionError never escapes as a 500."""

import pytest
from bankstream_common.json_limits import depth_of, holds_nul, loads_bounded


def test_depth_is_counted_without_recursion() -> None:
    assert depth_of(1, 5) == 0 and depth_of({"a": [1, {"b": []}]}, 5) == 4
    assert depth_of(loads_bounded(b"[" * 20 + b"]" * 20), 100) == 20


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 200_000 + b"]" * 200_000, "over"),
        (b"[" * 5000 + b"]" * 5000, "nested"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "deeper than 32"),
    ],
)
def test_too_large_or_too_deep_is_a_value_error(raw: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        loads_bounded(raw)
    assert loads_bounded(b'{"webhook_type": "ITEM", "x": [[1]]}')["webhook_type"] == "ITEM"


@pytest.mark.parametrize(
    ("raw", "nul"),
    [
        (rb'{"name": "a\u0000b"}', True),
        (rb'{"name": "a\\u0000b"}', False),  # an escaped backslash, then the text "u0000"
        (rb'{"name": "a\\\u0000b"}', True),  # an escaped backslash, then NUL
        (rb'{"name": "a\u0001b"}', False),
        (b"{}", False),
    ],
)
def test_holds_nul_finds_an_escaped_nul_and_only_that(raw: bytes, nul: bool) -> None:
    assert holds_nul(raw) is nul
