"""Webhook verification as Plaid documents it: each forgery refused with its reason, keys cached with care."""

import asyncio
import base64
import json
import time
import uuid
from typing import Any

import pytest
from link_svc.adapters.webhook_verifier import WebhookVerifier
from link_svc.domain.errors import PlaidRequestFailed, PlaidUnavailable, WebhookRejected

from .webhook_signing import SigningKey, b64url, hs256_with_public_key, unsigned, webhook_body


class KeyEndpoint:
    """Stands where /webhook_verification_key/get is: the keys Plaid would publish, and a call count."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = {k.kid: k for k in keys}
        self.calls: list[str] = []
        self.down = False

    async def fetch(self, kid: str) -> dict[str, Any]:
        self.calls.append(kid)
        await asyncio.sleep(0)
        if self.down:
            raise PlaidUnavailable("down", endpoint="/webhook_verification_key/get", status=500)
        if kid not in self.keys:
            raise PlaidRequestFailed(
                "no such key",
                endpoint="/webhook_verification_key/get",
                status=400,
                error_type="INVALID_INPUT",
                error_code="INVALID_WEBHOOK_VERIFICATION_KEY_ID",
            )
        return self.keys[kid].jwk()


BODY = webhook_body("item-1")


async def reason(verifier: WebhookVerifier, body: bytes, header: str | None) -> str:
    with pytest.raises(WebhookRejected) as caught:
        await verifier.verify(body, header)
    return caught.value.reason


async def test_a_genuine_webhook_verifies_and_its_body_is_returned() -> None:
    key = SigningKey()
    verified = await WebhookVerifier(KeyEndpoint(key).fetch).verify(BODY, key.sign(BODY))
    assert verified.body["item_id"] == "item-1" and verified.kid == key.kid


async def test_forged_signature_from_another_key_with_a_known_kid() -> None:
    key, forger = SigningKey(), SigningKey()
    forger.kid = key.kid
    assert await reason(WebhookVerifier(KeyEndpoint(key).fetch), BODY, forger.sign(BODY)) == "bad_signature"


async def test_stale_and_future_iat() -> None:
    key = SigningKey()
    verifier = WebhookVerifier(KeyEndpoint(key).fetch)
    assert await reason(verifier, BODY, key.sign(BODY, iat=time.time() - 301)) == "stale"
    assert await reason(verifier, BODY, key.sign(BODY, iat=time.time() + 3600)) == "stale"
    await verifier.verify(BODY, key.sign(BODY, iat=time.time() - 290))


async def test_an_iat_no_float_can_hold_is_malformed_before_any_key_lookup() -> None:
    """JSON numbers have no size limit: an iat of 400 digits made `now - iat` raise OverflowError, an
    unauthenticated 500 (the claims are read before any signature check)."""
    key = SigningKey()
    endpoint = KeyEndpoint(key)
    verifier = WebhookVerifier(endpoint.fetch)
    header = b64url(json.dumps({"alg": "ES256", "kid": key.kid}).encode())
    for iat in ("1" + "0" * 400, "-" + "9" * 400, "1e400"):
        claims = b64url(('{"iat": ' + iat + ', "request_body_sha256": "x"}').encode())
        assert await reason(verifier, BODY, f"{header}.{claims}.{b64url(b'x' * 64)}") == "malformed"
    assert endpoint.calls == []


async def test_tampered_body() -> None:
    key = SigningKey()
    verifier = WebhookVerifier(KeyEndpoint(key).fetch)
    tampered = BODY.replace(b"item-1", b"item-2")
    assert await reason(verifier, tampered, key.sign(BODY)) == "body_mismatch"
    assert await reason(verifier, BODY + b" ", key.sign(BODY)) == "body_mismatch"


async def test_alg_none_and_hs256_with_the_public_key_are_refused_before_any_key_lookup() -> None:
    key = SigningKey()
    endpoint = KeyEndpoint(key)
    verifier = WebhookVerifier(endpoint.fetch)
    assert await reason(verifier, BODY, unsigned(BODY, key.kid)) == "bad_alg"
    assert await reason(verifier, BODY, hs256_with_public_key(BODY, key)) == "bad_alg"
    assert endpoint.calls == []


async def test_unknown_kid_is_refused_and_remembered_briefly() -> None:
    key, stranger = SigningKey(), SigningKey()
    endpoint = KeyEndpoint(key)
    verifier = WebhookVerifier(endpoint.fetch, unknown_ttl=60.0)
    for _ in range(3):
        assert await reason(verifier, BODY, stranger.sign(BODY)) == "unknown_kid"
    assert endpoint.calls == [stranger.kid]


async def test_expired_key_is_refused_even_when_cached_before_it_expired() -> None:
    key = SigningKey()
    endpoint = KeyEndpoint(key)
    now = [time.time()]
    verifier = WebhookVerifier(endpoint.fetch, refresh_after=60.0, clock=lambda: now[0])
    await verifier.verify(BODY, key.sign(BODY, iat=now[0]))
    key.expired_at = int(now[0])  # Plaid retires the key
    now[0] += 61  # the cached entry is due for a refresh
    assert await reason(verifier, BODY, key.sign(BODY, iat=now[0])) == "expired_key"
    assert endpoint.calls == [key.kid, key.kid]


async def test_a_key_published_as_expired_is_never_trusted() -> None:
    key = SigningKey(expired_at=int(time.time()) - 10)
    assert await reason(WebhookVerifier(KeyEndpoint(key).fetch), BODY, key.sign(BODY)) == "expired_key"


async def test_concurrent_webhooks_with_a_new_kid_fetch_the_key_once() -> None:
    key = SigningKey()
    endpoint = KeyEndpoint(key)
    verifier = WebhookVerifier(endpoint.fetch)
    await asyncio.gather(*(verifier.verify(BODY, key.sign(BODY)) for _ in range(20)))
    assert endpoint.calls == [key.kid]


async def test_plaid_down_keeps_a_cached_key_but_cannot_vouch_for_a_new_one() -> None:
    key, newer = SigningKey(), SigningKey()
    endpoint = KeyEndpoint(key, newer)
    now = [time.time()]
    verifier = WebhookVerifier(endpoint.fetch, refresh_after=60.0, clock=lambda: now[0])
    await verifier.verify(BODY, key.sign(BODY, iat=now[0]))
    endpoint.down = True
    now[0] += 61
    await verifier.verify(BODY, key.sign(BODY, iat=now[0]))
    assert await reason(verifier, BODY, newer.sign(BODY, iat=now[0])) == "key_unavailable"


async def test_a_failed_refresh_keeps_the_key_and_is_tried_again_only_after_the_fetch_interval() -> None:
    key = SigningKey()
    endpoint = KeyEndpoint(key)
    now = [time.time()]
    verifier = WebhookVerifier(endpoint.fetch, refresh_after=60.0, fetch_interval=10.0, clock=lambda: now[0])
    await verifier.verify(BODY, key.sign(BODY, iat=now[0]))
    endpoint.down = True
    now[0] += 61
    for _ in range(50):
        await verifier.verify(BODY, key.sign(BODY, iat=now[0]))
    assert len(endpoint.calls) == 2  # the first fetch and one failed refresh
    now[0] += 11  # the fetch interval later
    endpoint.down = False
    await verifier.verify(BODY, key.sign(BODY, iat=now[0]))
    await verifier.verify(BODY, key.sign(BODY, iat=now[0]))
    assert len(endpoint.calls) == 3  # refreshed once more, then cached for refresh_after


@pytest.mark.parametrize("header", [None, "", "not-a-jwt", "a.b.c"])
async def test_missing_or_malformed_header(header: str | None) -> None:
    verifier = WebhookVerifier(KeyEndpoint(SigningKey()).fetch)
    assert await reason(verifier, BODY, header) in {"missing_header", "malformed"}


def invented(n: int, *, iat: float | None = None) -> list[str]:
    """n well-formed, correctly hashed webhooks, each signed by a fresh key under a fresh random kid."""
    signer = SigningKey()
    headers = []
    for _ in range(n):
        signer.kid = uuid.uuid4().hex
        headers.append(signer.sign(BODY, iat=iat))
    return headers


async def test_a_flood_of_invented_kids_costs_a_few_key_fetches_and_bounded_state() -> None:
    key = SigningKey()
    endpoint = KeyEndpoint(key)
    now = [time.time()]
    verifier = WebhookVerifier(
        endpoint.fetch, fetch_burst=5, fetch_interval=10.0, max_unknown=100, clock=lambda: now[0]
    )
    reasons = [await reason(verifier, BODY, h) for h in invented(2000, iat=now[0])]
    assert set(reasons) == {"unknown_kid", "key_fetch_throttled"}
    assert len(endpoint.calls) == 5  # the bucket's burst, nothing more
    assert verifier.footprint() == {"keys": 0, "heads": 0, "unknown": 5, "fetching": 0}
    now[0] += 10.0  # the bucket refills: Plaid's next retry of a genuine delivery gets in
    await verifier.verify(BODY, key.sign(BODY, iat=now[0]))
    assert len(endpoint.calls) == 6


async def test_concurrent_invented_kids_bound_in_flight_fetches_and_the_unknown_cache() -> None:
    endpoint = KeyEndpoint()
    verifier = WebhookVerifier(endpoint.fetch, fetch_burst=3000, max_unknown=100)
    await asyncio.gather(*(reason(verifier, BODY, h) for h in invented(2000)))
    assert len(endpoint.calls) == 2000  # a huge burst lets every one through ...
    assert verifier.footprint()["unknown"] == 100  # ... but what is remembered stays bounded
    assert verifier.footprint()["fetching"] == 0


async def test_the_key_cache_is_bounded() -> None:
    keys = [SigningKey() for _ in range(10)]
    verifier = WebhookVerifier(KeyEndpoint(*keys).fetch, max_keys=4, fetch_burst=10)
    for key in keys:
        await verifier.verify(BODY, key.sign(BODY))
    assert verifier.footprint()["keys"] == 4 and verifier.footprint()["heads"] == 4


async def test_a_stale_or_mismatched_jwt_is_refused_before_any_key_fetch() -> None:
    endpoint = KeyEndpoint()
    verifier = WebhookVerifier(endpoint.fetch)
    stranger = SigningKey()
    assert await reason(verifier, BODY, stranger.sign(BODY, iat=time.time() - 3600)) == "stale"
    assert await reason(verifier, BODY + b" ", stranger.sign(BODY)) == "body_mismatch"
    assert await reason(verifier, BODY, "x" * 5000) == "malformed"
    assert endpoint.calls == []


async def test_the_delivery_id_is_the_signed_delivery_not_the_body() -> None:
    key = SigningKey()
    verifier = WebhookVerifier(KeyEndpoint(key).fetch)
    first, again = key.sign(BODY), key.sign(BODY)  # same claims, signed twice: two deliveries
    one = await verifier.verify(BODY, first)
    assert (await verifier.verify(BODY, first)).delivery_id == one.delivery_id  # a replay
    assert (await verifier.verify(BODY, again)).delivery_id != one.delivery_id
    assert (await verifier.verify(BODY, negated_s(first))).delivery_id == one.delivery_id


def negated_s(token: str) -> str:
    """The same JWT with its ECDSA signature's s replaced by n - s: still valid, made without the key."""
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    signed, _, sig = token.rpartition(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    s = n - int.from_bytes(raw[32:], "big")
    return f"{signed}.{b64url(raw[:32] + s.to_bytes(32, 'big'))}"
