"""Plaid webhook verification, exactly as Plaid documents it, with a key cache that honours `expired_at`.

1. The `Plaid-Verification` header is a JWT whose header must say `alg: ES256` (anything else, `none` and
   HS256 included, is refused before any key is looked at) and name a `kid`.
2. The key comes from the cache, or from `/webhook_verification_key/get` for an unknown `kid` (fetched once
   however many webhooks ask at the same time; an id Plaid does not know is remembered briefly, so a flood
   of made-up ids costs one Plaid call each per `unknown_ttl`). A key whose `expired_at` is set is refused.
   Cached live keys are re-fetched after `refresh_after`, so an expiry Plaid announces is seen.
3. The signature is checked with ES256 only; `iat` must be at most `max_age` old (and not in the future
   beyond `leeway`); `request_body_sha256` must equal the SHA-256 of the raw body, compared in constant time.
Every refusal is a WebhookRejected with a small `reason`.
"""

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.algorithms import ECAlgorithm

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
        try:
            jwt_header = jwt.get_unverified_header(header)
        except jwt.PyJWTError:
            raise WebhookRejected("malformed") from None
        if jwt_header.get("alg") != "ES256":
            raise WebhookRejected("bad_alg")
        kid = jwt_header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 200:
            raise WebhookRejected("malformed")
        key = await self._key(kid)
        try:
            claims = jwt.decode(
                header,
                key.public_key,
                algorithms=["ES256"],
                options={"require": ["iat"], "verify_exp": False, "verify_iat": False, "verify_aud": False},
            )
        except jwt.InvalidSignatureError:
            raise WebhookRejected("bad_signature") from None
        except jwt.PyJWTError:
            raise WebhookRejected("malformed") from None
        iat = claims.get("iat")
        now = self._clock()
        if not isinstance(iat, int | float) or now - iat > self._max_age or iat - now > self._leeway:
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
            public_key = ECAlgorithm.from_jwk({k: jwk[k] for k in ("kty", "crv", "x", "y")})
        except (KeyError, jwt.PyJWTError, ValueError):
            raise WebhookRejected("unknown_kid") from None
        entry = _CachedKey(jwk, public_key, self._clock())
        self._keys[kid] = entry
        return entry
