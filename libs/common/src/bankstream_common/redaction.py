"""Redaction: what a log line, an error message or a readiness reason may never carry.

Two rules, applied to every value however deeply nested:

* By key. A mapping key is sensitive when one of its words (split on `_`, `-`, `.`, spaces and camelCase)
  is a secret word (`token`, `tokens`, `secret`, `password`, `passwd`, `authorization`, `auth`, `cookie`,
  `apikey`, `credentials`, `dsn`) or it holds `api_key` / `private_key`, UNLESS its last word says it is
  metadata about the secret (`type`, `count`, `expiration`, `expires`, `expiry`, `ttl`, `length`). So
  `access_token`, `Plaid-Secret`, `clientSecret`, `Authorization` are replaced whole, while `token_type`
  and `tokens_count` are kept. None and booleans are kept (they cannot carry a secret).
* By pattern, inside every string whatever its key: Plaid tokens (`access-|public-|link-|processor-`,
  any environment, then a UUID), `Bearer|Basic <credential>`, `Authorization: ...`, `<sensitive>=<value>`
  and `<sensitive>: <value>` pairs, JWTs (`eyJ...eyJ...`), and the password in `scheme://user:pass@host`.

Everything is replaced with `[REDACTED]`; the rest of a string survives.
"""

import datetime as dt
import functools
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any
from uuid import UUID

REDACTED = "[REDACTED]"

SECRET_WORDS = frozenset(
    {
        "token",
        "tokens",
        "secret",
        "secrets",
        "password",
        "passwd",
        "passphrase",
        "authorization",
        "auth",
        "cookie",
        "cookies",
        "apikey",
        "credential",
        "credentials",
        "dsn",
    }
)
SECRET_PHRASES = ("api_key", "private_key", "set_cookie")
METADATA_WORDS = frozenset({"type", "count", "expiration", "expires", "expiry", "ttl", "length"})

_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")

_SENSITIVE_NAME = r"[\w-]*(?:token|secret|password|passwd|api[_-]?key|authorization|cookie)[\w-]*"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Plaid tokens, whatever the environment (sandbox, production, the emulator's)
    (
        re.compile(
            r"(?:access|public|link|processor)-[a-z]+-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            re.IGNORECASE,
        ),
        REDACTED,
    ),
    # JWTs (Plaid-Verification headers, session tokens)
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # a whole Authorization header value, to the end of the line or field
    (
        re.compile(r"(?i)\b((?:proxy-)?authorization['\"]?\s*[:=]\s*)['\"]?[^\r\n,;'\"]+['\"]?"),
        rf"\1{REDACTED}",
    ),
    # credentials after an auth scheme
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
    # key=value / key: value / "key": "value" pairs whose key is sensitive
    (
        re.compile(rf"(?i)\b({_SENSITIVE_NAME}['\"]?\s*[:=]\s*['\"]?)(?!\[REDACTED\])[^\s'\",;&)}}\]]+"),
        rf"\1{REDACTED}",
    ),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@"), rf"\1{REDACTED}@"),
)


# Every pattern above needs one of these substrings (lower-cased): a string with none of them is returned
# untouched after a few `in` checks instead of six substitutions (most log values: routes, ids, numbers).
_TRIGGERS = (
    "token",
    "secret",
    "passw",
    "authorization",
    "bearer",
    "basic",
    "cookie",
    "key",
    "://",
    "eyj",
    "access-",
    "public-",
    "link-",
    "processor-",
)


def _may_hold_secret(text: str) -> bool:
    lower = text.lower()
    return any(t in lower for t in _TRIGGERS)


@functools.lru_cache(maxsize=4096)
def is_sensitive_key(key: str) -> bool:
    normal = _CAMEL.sub(r"\1_\2", key).lower()
    words = [w for w in _SPLIT.split(normal) if w]
    if not words:
        return False
    joined = "_".join(words)
    sensitive = any(w in SECRET_WORDS for w in words) or any(p in joined for p in SECRET_PHRASES)
    return sensitive and words[-1] not in METADATA_WORDS


def redact_text(text: str) -> str:
    if not _may_hold_secret(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """A copy of `value` that is safe to log, render or return (JSON-friendly where it was)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact_item(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, UUID | Decimal | PurePath):
        return str(value)
    if isinstance(value, Enum):
        return redact(value.value)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return redact_text(repr(value))


def _redact_item(key: object, value: Any) -> Any:
    if isinstance(key, str) and is_sensitive_key(key) and value is not None and not isinstance(value, bool):
        return REDACTED
    return redact(value)
