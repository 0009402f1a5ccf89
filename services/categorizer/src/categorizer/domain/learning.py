"""Learning from a user's corrections, the way Actual Budget does: per user and merchant key, the same
category in THRESHOLD of the user's last WINDOW corrections for that key makes it learned.

The merchant key is the normalized merchant name, else the normalized description.
"""

from collections import Counter
from collections.abc import Callable, Sequence

from .model import normalize_description

WINDOW = 5
THRESHOLD = 3
MAX_KEY = 120


def merchant_key(merchant_name: str | None, description: str | None) -> str | None:
    merchant = normalize_description(merchant_name) if merchant_name else None
    return key_of(merchant, lambda: normalize_description(description) if description else "")


def key_of(merchant_norm: str | None, description_norm: Callable[[], str]) -> str | None:
    """`merchant_key` from texts already normalized (the description's asked for only when needed)."""
    key = merchant_norm[:MAX_KEY] if merchant_norm else ""
    if not key:
        key = description_norm()[:MAX_KEY]
    return key or None


def learned_from(recent_detailed: Sequence[str]) -> str | None:
    """The learned detailed category given the key's corrections, newest first (only WINDOW count)."""
    counts = Counter(recent_detailed[:WINDOW])
    if not counts:
        return None
    detailed, n = counts.most_common(1)[0]
    return detailed if n >= THRESHOLD else None
