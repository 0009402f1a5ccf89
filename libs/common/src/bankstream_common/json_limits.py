"""JSON from outside, parsed with bounded work: size and nesting depth.

    loads_bounded(raw, max_bytes=256 * 1024, max_depth=32)   # the value, or ValueError saying why
    holds_nul(raw)                                            # a string of it escapes NUL (\\u0000)

Python's parser recurses once per nesting level: a few thousand `[` (a few KB) raise RecursionError, which
is not a ValueError and would escape every `except ValueError` as a 500. Deep values are refused even when
the parser copes, since whatever reads them next (a consumer, a model) may recurse too.
"""

import json
import re
from typing import Any

MAX_DEPTH = 32
# a \u0000 escape: preceded by an even number of backslashes (an odd one escapes the backslash itself)
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def holds_nul(raw: bytes) -> bool:
    """Whether a string of this JSON holds NUL (JSON has it only escaped; a raw NUL byte is invalid JSON):
    PostgreSQL's text and jsonb cannot store it."""
    return b"\\u0000" in raw and _NUL.search(raw) is not None


def depth_of(value: Any, limit: int) -> int:
    """The nesting depth of a parsed JSON value (a scalar is 0), counted up to `limit + 1`, iteratively."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth) for child in node if isinstance(child, dict | list))
    return deepest


def loads_bounded(raw: bytes | str, *, max_bytes: int = 256 * 1024, max_depth: int = MAX_DEPTH) -> Any:
    if len(raw) > max_bytes:
        raise ValueError(f"the JSON is over {max_bytes} bytes")
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    if depth_of(value, max_depth) > max_depth:
        raise ValueError(f"the JSON is nested deeper than {max_depth} levels")
    return value
