"""Plaid webhook verification as Plaid documents it, through PyJWT; nothing an unauthenticated caller sends
can grow memory or cause more than a few calls to Plaid.

1. The `Plaid-Verification` header is a compact JWS (at most 4 KiB). Before any key is looked at, its
   unverified header must say `alg: ES256` (anything else, `none` and HS256 included, is `bad_alg`) and name
   a `kid`; its claims must carry an `iat` at most `max_age` old and not beyond `leeway` in the future
   (`stale`) and a `request_body_sha256` equal to the SHA-256 of the raw body (`body_mismatch`).
   A header segment already seen on a verified webhook (the same key signs them all) skips this pre-check.
2. The key is a `jwt.PyJWK` from a bounded LRU cache, or from `/webhook_verification_key/get`: one fetch
   per kid however many webhooks ask at once; a kid Plaid does not know is remembered (bounded LRU) for
   `unknown_ttl`; fetches of kids not in the cache draw on a token bucket (`fetch_burst`, one more every
   `fetch_interval` seconds), so a flood of invented kids costs at most that many Plaid calls and is
   refused `key_fetch_throttled` meanwhile (a genuine new kid then gets in on Plaid's retry). A key whose
   `expired_at` is set is refused; cached keys are re-fetched after `refresh_after`, so an expiry Plaid
   announces is seen. A refresh draws on no bucket (a flood of invented kids must not delay an announced
   expiry) but each one, failed or not, counts: a key Plaid cannot refresh is kept and tried again only
   `fetch_interval` later, so at most one refresh per cached kid (`max_keys`) per interval reaches Plaid.
3. The signature: `PyJWS.decode_complete(..., key=PyJWK, algorithms=["ES256"])`; then `iat` and the body
   hash again, on the verified claims.

The delivery id is what makes two deliveries the same: the SHA-256 of the JWT's signed part and its
signature's `r` (ECDSA's `s` can be negated without the key; `r` cannot be changed without it). Plaid
signs each delivery and each retry anew, so two deliveries of one body have distinct ids; only a replay of
the same JWT has the same one. Every refusal is a WebhookRejected with a small `reason`.
"""

import asyncio
import hashlib
import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
from bankstream_common.json_limits import holds_nul, loads_bounded
from jwt.api_jws import PyJWS

from ..domain.errors import PlaidRequestFailed, PlaidUnavailable, WebhookRejected

KeyFetcher = Callable[[str], Awaitable[dict[str, Any]]]  # kid -> Plaid's JWK dict; raises PlaidError

MAX_HEADER = 4096
MAX_KID = 200
MAX_BODY = 256 * 1024  # the route refuses larger bodies before reading them (entrypoints/webhooks.py)


@dataclass(frozen=True)
class _CachedKey:
    jwk: dict[str, Any]
    key: jwt.PyJWK
    fetched_at: float


@dataclass(frozen=True)
class VerifiedWebhook:
    body: dict[str, Any]
    body_sha256: str
    kid: str
    delivery_id: str  # the same only for a replay of the same signed delivery
    issued_at: float  # the JWT's iat (seconds since the epoch)


class _Bucket:
    """A token bucket: `burst` tokens, one more every `interval` seconds."""

    def __init__(self, burst: int, interval: float, clock: Callable[[], float]) -> None:
        self._burst, self._interval, self._clock = burst, interval, clock
        self._tokens, self._updated = float(burst), clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + max(0.0, now - self._updated) / self._interval)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class WebhookVerifier:
    def __init__(
        self,
        fetch_key: KeyFetcher,
        *,
        max_age: float = 300.0,
        leeway: float = 60.0,
        refresh_after: float = 3600.0,
        unknown_ttl: float = 60.0,
        max_keys: int = 16,
        max_unknown: int = 1024,
        fetch_burst: int = 5,
        fetch_interval: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch_key
        self._max_age, self._leeway = max_age, leeway
        self._refresh_after, self._unknown_ttl = refresh_after, unknown_ttl
        self._max_keys, self._max_unknown = max_keys, max_unknown
        self._clock = clock
        self._jws = PyJWS()
        self._keys: OrderedDict[str, _CachedKey] = OrderedDict()
        self._heads: OrderedDict[str, str] = OrderedDict()  # verified header segment -> kid
        self._unknown: OrderedDict[str, float] = OrderedDict()  # kid -> when Plaid said it does not exist
        self._fetching: dict[str, asyncio.Future[_CachedKey]] = {}
        self._budget = _Bucket(fetch_burst, fetch_interval, clock)
        self._retry_after = fetch_interval  # a cached kid's failed refresh is tried again this much later

    def footprint(self) -> dict[str, int]:
        """How much state the verifier holds (each bounded; for tests and debugging)."""
        return {
            "keys": len(self._keys),
            "heads": len(self._heads),
            "unknown": len(self._unknown),
            "fetching": len(self._fetching),
        }

    async def verify(self, raw_body: bytes, header: str | None) -> VerifiedWebhook:
        if not header:
            raise WebhookRejected("missing_header")
        if len(header) > MAX_HEADER:
            raise WebhookRejected("malformed")
        head = header.partition(".")[0]
        body_sha256 = hashlib.sha256(raw_body).hexdigest()
        kid = self._heads.get(head)
        if kid is None:
            kid = self._precheck(header, body_sha256)
        cached = await self._key(kid)
        try:
            decoded = self._jws.decode_complete(header, key=cached.key, algorithms=["ES256"])
        except jwt.InvalidSignatureError:
            raise WebhookRejected("bad_signature") from None
        except jwt.InvalidAlgorithmError:
            raise WebhookRejected("bad_alg") from None
        except jwt.PyJWTError:
            raise WebhookRejected("malformed") from None
        iat = self._check_claims(_json(decoded["payload"]), body_sha256)
        self._remember(self._heads, head, kid, self._max_keys)
        try:
            body = loads_bounded(raw_body, max_bytes=MAX_BODY)
        except ValueError:
            raise WebhookRejected("malformed") from None
        if not isinstance(body, dict) or holds_nul(raw_body):  # PostgreSQL's text and jsonb hold no NUL
            raise WebhookRejected("malformed")
        signed = header.rpartition(".")[0].encode("ascii")
        delivery = hashlib.sha256(signed + b"." + decoded["signature"][:32]).hexdigest()
        return VerifiedWebhook(body, body_sha256, kid, delivery, iat)

    def _precheck(self, header: str, body_sha256: str) -> str:
        """The unverified header and claims, checked before any key is looked up; the kid."""
        try:
            unverified = self._jws.decode_complete(header, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise WebhookRejected("malformed") from None
        if unverified["header"].get("alg") != "ES256":  # `none`, HS256 and every other alg stop here
            raise WebhookRejected("bad_alg")
        kid = unverified["header"].get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID:
            raise WebhookRejected("malformed")
        self._check_claims(_json(unverified["payload"]), body_sha256)
        return kid

    def _check_claims(self, claims: dict[str, Any], body_sha256: str) -> float:
        iat = claims.get("iat")
        if isinstance(iat, bool) or not isinstance(iat, int | float):
            raise WebhookRejected("malformed")
        try:  # an integer of hundreds of digits overflows a float: an OverflowError was a 500
            iat = float(iat)
        except OverflowError:
            raise WebhookRejected("malformed") from None
        if not math.isfinite(iat):
            raise WebhookRejected("malformed")
        now = self._clock()
        if now - iat > self._max_age or iat - now > self._leeway:
            raise WebhookRejected("stale")
        claimed = claims.get("request_body_sha256")
        if not isinstance(claimed, str) or not hmac.compare_digest(claimed.encode(), body_sha256.encode()):
            raise WebhookRejected("body_mismatch")
        return iat

    async def _key(self, kid: str) -> _CachedKey:
        cached = self._keys.get(kid)
        if cached is not None and self._clock() - cached.fetched_at <= self._refresh_after:
            self._keys.move_to_end(kid)
        else:
            cached = await self._fetch_once(kid, cached)
        if cached.jwk.get("expired_at"):
            raise WebhookRejected("expired_key")
        return cached

    async def _fetch_once(self, kid: str, previous: _CachedKey | None) -> _CachedKey:
        """One fetch per kid at a time; a kid never verified with costs a token and may be known unknown."""
        pending = self._fetching.get(kid)
        if pending is None:
            if previous is None:
                seen = self._unknown.get(kid)
                if seen is not None and self._clock() - seen < self._unknown_ttl:
                    raise WebhookRejected("unknown_kid")
                if not self._budget.take():
                    raise WebhookRejected("key_fetch_throttled")
            else:  # a refresh counts as a fetch whatever its outcome: the next one is `fetch_interval` away
                retry_at = self._clock() - self._refresh_after + self._retry_after
                self._remember(
                    self._keys, kid, _CachedKey(previous.jwk, previous.key, retry_at), self._max_keys
                )
            pending = asyncio.ensure_future(self._load(kid, previous))
            self._fetching[kid] = pending
            pending.add_done_callback(lambda done: self._fetched(kid, done))
        return await asyncio.shield(pending)

    def _fetched(self, kid: str, done: asyncio.Future[_CachedKey]) -> None:
        self._fetching.pop(kid, None)
        if not done.cancelled():
            done.exception()  # retrieved here too, so a fetch nobody awaits any more is not reported

    async def _load(self, kid: str, previous: _CachedKey | None) -> _CachedKey:
        try:
            jwk = await self._fetch(kid)
        except PlaidRequestFailed:
            self._keys.pop(kid, None)
            self._remember(self._unknown, kid, self._clock(), self._max_unknown)
            raise WebhookRejected("unknown_kid") from None
        except PlaidUnavailable:
            if previous is not None:  # keep using what we had; the entry already waits for its next try
                return previous
            raise WebhookRejected("key_unavailable") from None
        if (
            not isinstance(jwk, dict)
            or jwk.get("kid") not in (None, kid)
            or jwk.get("alg", "ES256") != "ES256"
            or jwk.get("crv") != "P-256"
        ):
            raise WebhookRejected("unknown_kid")
        try:
            key = jwt.PyJWK(jwk, algorithm="ES256")
        except jwt.PyJWTError:
            raise WebhookRejected("unknown_kid") from None
        entry = _CachedKey(jwk, key, self._clock())
        self._remember(self._keys, kid, entry, self._max_keys)
        return entry

    @staticmethod
    def _remember(lru: "OrderedDict[str, Any]", key: str, value: Any, limit: int) -> None:
        lru[key] = value
        lru.move_to_end(key)
        while len(lru) > limit:
            lru.popitem(last=False)


def _json(segment: bytes) -> dict[str, Any]:
    try:
        value = loads_bounded(segment, max_bytes=MAX_HEADER)
    except ValueError:
        raise WebhookRejected("malformed") from None
    if not isinstance(value, dict):
        raise WebhookRejected("malformed")
    return value
