"""Plaid webhook verification, exactly as Plaid documents it, with a key cache that honours `expired_at`.

1. The `Plaid-Verification` header is a JWT whose header must say `alg: ES256` (anything else, `none` and
   HS256 included, is refused before any key is looked at) and name a `kid`.
2. The key comes from the cache, or from `/webhook_verification_key/get` for an unknown `kid` (fetched once
   however many webhooks ask at the same time; an id Plaid does not know is remembered briefly, so a flood
   of made-up ids costs one Plaid call each per `unknown_ttl`). A key whose `expired_at` is set is refused.
   Cached live keys are re-fetched after `refresh_after`, so an expiry Plaid announces is seen.
3. The signature is checked with ES256 only (ECDSA P-256 / SHA-256 through `cryptography`; the compact JWS
   is parsed here, strictly, rather than by a general JWT library: one algorithm, no options to get
   wrong, and a fifth of the cost); `iat` must be at most `max_age` old (and not in the future beyond
   `leeway`); `request_body_sha256` must equal the SHA-256 of the raw body, compared in constant time.
Every refusal is a WebhookRejected with a small `reason`.
"""

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..domain.errors import PlaidRequestFailed, PlaidUnavailable, WebhookRejected

KeyFetcher = Callable[[str], Awaitable[dict[str, Any]]]  # kid -> Plaid's JWK dict; raises PlaidError


@dataclass
class _CachedKey:
    jwk: dict[str, Any]
    public_key: Any
    fetched_at: float


@dataclass(frozen=True)
class VerifiedWebhook:
    body: dict[str, Any]
    body_sha256: str
    kid: str


class WebhookVerifier:
    def __init__(
        self,
        fetch_key: KeyFetcher,
        *,
        max_age: float = 300.0,
        leeway: float = 60.0,
        refresh_after: float = 3600.0,
        unknown_ttl: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch_key
        self._max_age, self._leeway = max_age, leeway
        self._refresh_after, self._unknown_ttl = refresh_after, unknown_ttl
        self._clock = clock
        self._keys: dict[str, _CachedKey] = {}
        self._unknown: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def verify(self, raw_body: bytes, header: str | None) -> VerifiedWebhook:
        if not header:
            raise WebhookRejected("missing_header")
        parts = header.split(".")
        if len(parts) != 3:
            raise WebhookRejected("malformed")
        jwt_header = _json_segment(parts[0])
        if jwt_header.get("alg") != "ES256":  # `none`, HS256 and every other alg stop here, before any key
            raise WebhookRejected("bad_alg")
        kid = jwt_header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 200:
            raise WebhookRejected("malformed")
        key = await self._key(kid)
        signature = _segment(parts[2])
        if len(signature) != 64:  # ES256: r and s, 32 bytes each (RFC 7518 3.4)
            raise WebhookRejected("bad_signature")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            key.public_key.verify(der, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise WebhookRejected("bad_signature") from None
        claims = _json_segment(parts[1])
        iat = claims.get("iat")
        now = self._clock()
        if isinstance(iat, bool) or not isinstance(iat, int | float):
            raise WebhookRejected("malformed")
        if now - iat > self._max_age or iat - now > self._leeway:
            raise WebhookRejected("stale")
        claimed = claims.get("request_body_sha256")
        actual = hashlib.sha256(raw_body).hexdigest()
        if not isinstance(claimed, str) or not hmac.compare_digest(claimed.encode(), actual.encode()):
            raise WebhookRejected("body_mismatch")
        try:
            body = json.loads(raw_body)
        except ValueError:
            raise WebhookRejected("malformed") from None
        if not isinstance(body, dict):
            raise WebhookRejected("malformed")
        return VerifiedWebhook(body, actual, kid)

    async def _key(self, kid: str) -> _CachedKey:
        cached = self._keys.get(kid)
        if cached is None or self._clock() - cached.fetched_at > self._refresh_after:
            lock = self._locks.setdefault(kid, asyncio.Lock())
            async with lock:
                cached = self._keys.get(kid)
                if cached is None or self._clock() - cached.fetched_at > self._refresh_after:
                    cached = await self._load(kid, cached)
        if cached.jwk.get("expired_at"):
            raise WebhookRejected("expired_key")
        return cached

    async def _load(self, kid: str, previous: _CachedKey | None) -> _CachedKey:
        seen_unknown = self._unknown.get(kid)
        if seen_unknown is not None and self._clock() - seen_unknown < self._unknown_ttl:
            raise WebhookRejected("unknown_kid")
        try:
            jwk = await self._fetch(kid)
        except PlaidRequestFailed:
            self._unknown[kid] = self._clock()
            if len(self._unknown) > 10_000:
                self._unknown.clear()
            self._keys.pop(kid, None)
            raise WebhookRejected("unknown_kid") from None
        except PlaidUnavailable:
            if previous is not None:  # keep using what we had; try again next time
                return previous
            raise WebhookRejected("key_unavailable") from None
        if (
            jwk.get("kid") not in (None, kid)
            or jwk.get("alg", "ES256") != "ES256"
            or jwk.get("crv") != "P-256"
        ):
            raise WebhookRejected("unknown_kid")
        try:
            if jwk["kty"] != "EC":
                raise ValueError("not an EC key")
            x, y = (int.from_bytes(_segment(jwk[c]), "big") for c in ("x", "y"))
            public_key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()  # checks the curve
        except (KeyError, TypeError, ValueError, WebhookRejected):
            raise WebhookRejected("unknown_kid") from None
        entry = _CachedKey(jwk, public_key, self._clock())
        self._keys[kid] = entry
        return entry


_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def _segment(segment: str) -> bytes:
    """One base64url JWS segment (no padding, RFC 7515), strictly."""
    if len(segment) > 8192 or len(segment) % 4 == 1 or not _BASE64URL.fullmatch(segment):
        raise WebhookRejected("malformed")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise WebhookRejected("malformed") from None


def _json_segment(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_segment(segment))
    except ValueError:
        raise WebhookRejected("malformed") from None
    if not isinstance(value, dict):
        raise WebhookRejected("malformed")
    return value
