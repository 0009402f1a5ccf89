"""User regexes, bounded against ReDoS before they are ever compiled for matching.

Python's `re` backtracks and has no timeout, so a rule's pattern is accepted only within a safe subset:
at most MAX_PATTERN characters; no backreferences, no lookaround, no conditionals; no quantifier whose
body holds another quantifier or an alternation (`(a+)+`, `(a|aa)*`: the shapes of catastrophic
backtracking); counted repeats at most MAX_REPEAT; at most MAX_UNBOUNDED unbounded quantifiers (an escaped
star or plus counts too: cautious, never unsafe). Matching is case-insensitive and runs on at most
MAX_SUBJECT characters of the description. Anything else raises RuleInvalid with the reason.
"""

import re
from typing import Any

from .errors import RuleInvalid

try:  # Python 3.11 moved the parser; both names exist there
    import re._constants as _c
    import re._parser as _parser
except ImportError:  # pragma: no cover
    import sre_constants as _c
    import sre_parse as _parser

MAX_PATTERN = 200
MAX_REPEAT = 50
MAX_SUBJECT = 512
MAX_UNBOUNDED = 2  # `.*a.*b.*c` is polynomial backtracking; two stay cheap on MAX_SUBJECT chars

_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT)}
_FORBIDDEN = {
    _c.GROUPREF: "backreferences are not allowed",
    _c.GROUPREF_EXISTS: "conditional groups are not allowed",
    _c.ASSERT: "lookahead/lookbehind is not allowed",
    _c.ASSERT_NOT: "lookahead/lookbehind is not allowed",
}


def compile_safe(pattern: str) -> re.Pattern[str]:
    if not pattern:
        raise RuleInvalid("the regex is empty")
    if len(pattern) > MAX_PATTERN:
        raise RuleInvalid(f"the regex is longer than {MAX_PATTERN} characters")
    try:
        parsed = _parser.parse(pattern, 0)
    except re.error as exc:
        raise RuleInvalid(f"the regex is malformed: {exc}") from None
    except (OverflowError, RecursionError):  # a{4294967295}, or thousands of nested groups
        raise RuleInvalid(
            "the regex is too costly: a repeat count or nesting beyond what re accepts"
        ) from None
    _check(list(parsed), inside_repeat=False)
    unbounded = pattern.count("*") + pattern.count("+") + len(re.findall(r"\{\d*,\}", pattern))
    if unbounded > MAX_UNBOUNDED:
        raise RuleInvalid(
            f"the regex is too costly: at most {MAX_UNBOUNDED} unbounded quantifiers (*, +, {{n,}})"
        )
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:  # pragma: no cover - parse accepted it
        raise RuleInvalid(f"the regex is malformed: {exc}") from None


def _check(items: list[tuple[Any, Any]], *, inside_repeat: bool) -> None:
    for op, arg in items:
        if op in _FORBIDDEN:
            raise RuleInvalid(f"the regex is too costly: {_FORBIDDEN[op]}")
        if op in _REPEATS:
            low, high, body = arg
            if inside_repeat:
                raise RuleInvalid("the regex is too costly: nested quantifiers (e.g. (a+)+) are not allowed")
            if (high != _c.MAXREPEAT and high > MAX_REPEAT) or low > MAX_REPEAT:
                raise RuleInvalid(f"the regex is too costly: counted repeats are limited to {MAX_REPEAT}")
            _check(list(body), inside_repeat=True)
        elif op is _c.SUBPATTERN:
            _check(list(arg[-1]), inside_repeat=inside_repeat)
        elif op is _c.BRANCH:
            if inside_repeat:
                raise RuleInvalid("the regex is too costly: an alternation under a quantifier is not allowed")
            for branch in arg[1]:
                _check(list(branch), inside_repeat=inside_repeat)
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            _check(list(arg), inside_repeat=inside_repeat)


def search(pattern: re.Pattern[str], text: str) -> bool:
    return pattern.search(text[:MAX_SUBJECT]) is not None
