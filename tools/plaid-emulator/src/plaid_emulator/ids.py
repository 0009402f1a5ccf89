"""Identifiers shaped like Plaid's sandbox: 37 alphanumerics for objects, `<kind>-sandbox-<uuid4>` tokens,
15 alphanumerics for request ids. Object ids derived from a seed are stable across runs."""

from __future__ import annotations

import hashlib
import random
import string
import uuid
from typing import Any

ALPHANUMERIC = string.ascii_letters + string.digits
BYTE_TO_ALNUM = bytes(ord(ALPHANUMERIC[b % 62]) for b in range(256))
_request_rng = random.SystemRandom()


def derived_id(*parts: object) -> str:
    """A 37-character id that depends only on `parts` (same seed, same ids)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=37).digest()
    return digest.translate(BYTE_TO_ALNUM).decode()


def request_id() -> str:
    return "".join(_request_rng.choices(ALPHANUMERIC, k=15))


class IdMint:
    """Mints Item ids and tokens from a seeded generator, so a seeded emulator replays the same ids."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def state(self) -> list[Any]:
        """Where the generator stands (for the snapshot file): restored, it mints no id twice."""
        version, internal, gauss = self._rng.getstate()
        return [version, list(internal), gauss]

    def restore(self, state: list[Any]) -> None:
        self._rng.setstate((state[0], tuple(state[1]), state[2]))

    def object_id(self) -> str:
        return "".join(self._rng.choices(ALPHANUMERIC, k=37))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def token(self, kind: str) -> str:
        return f"{kind}-sandbox-{self.uuid()}"
