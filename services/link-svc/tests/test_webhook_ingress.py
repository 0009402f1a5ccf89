"""Plaid webhook ingress over HTTP: Plaid's own signed webhooks get in, forgeries get 401, a metric, and
publish nothing. (Deliveries and replays: test_webhook_deliveries.py.)"""

import asyncio
import hashlib
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm
from link_svc.domain import events as ev
from plaid_emulator.testing import RunningEmulator

from .harness import LinkService, exchange, read_events, running_link_service, wait_until
from .webhook_signing import SigningKey, hs256_with_public_key, unsigned, webhook_body

pytestmark = pytest.mark.integration


async def webhook_rows(svc: LinkService, code: str = "") -> int:
    """Verified deliveries recorded; each row's event enters the outbox in the same statement, or neither.

    (The outbox itself cannot be counted: the relay deletes a row once Kafka acknowledged it.)"""
    return int(
        await svc.pool.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE webhook_code LIKE $1", f"%{code}%"
        )
    )


async def post(svc: LinkService, body: bytes, header: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Plaid-Verification"] = header
    return (await svc.call("POST", "/v1/plaid/webhooks", content=body, headers=headers)).status_code


async def test_forged_webhooks_get_401_a_metric_and_publish_nothing(svc: LinkService) -> None:
    emulator_kid = svc.emu.control("POST", "/webhook_keys/rotate")["kid"]
    jwk = svc.emu.plaid("/webhook_verification_key/get", {"key_id": emulator_kid}).json()["key"]
    emulator_public = ECAlgorithm.from_jwk(jwk)
    body = webhook_body("item-x")
    mine = SigningKey()
    impostor = SigningKey()
    impostor.kid = emulator_kid  # claims to be Plaid's current key, signs with its own
    as_plaid = SigningKey(kid=emulator_kid)
    public_pem = emulator_public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    class PlaidPublicKey(SigningKey):
        def public_pem(self) -> bytes:
            return public_pem

    forgeries = {
        "bad_signature": impostor.sign(body),
        "unknown_kid": mine.sign(body),
        "bad_alg": unsigned(body, emulator_kid),
        "body_mismatch": impostor.sign(body, body_hash=hashlib.sha256(b"{}").hexdigest()),
        "missing_header": None,
    }
    for reason, header in forgeries.items():
        assert await post(svc, body, header) == 401, reason
    hs = hs256_with_public_key(body, PlaidPublicKey(kid=emulator_kid, private=as_plaid.private))
    assert await post(svc, body, hs) == 401
    stale = jwt.encode(
        {"iat": int(time.time()) - 600, "request_body_sha256": hashlib.sha256(body).hexdigest()},
        impostor.private,
        algorithm="ES256",
        headers={"kid": emulator_kid},
    )
    assert await post(svc, body, stale) == 401
    assert await webhook_rows(svc) == 0
    metrics = (await svc.call("GET", "/metrics")).text
    for reason in ("bad_signature", "unknown_kid", "bad_alg", "missing_header"):
        assert f'link_svc_webhooks_rejected_total{{reason="{reason}"}}' in metrics, reason


async def test_item_webhooks_drive_the_state_machine(svc: LinkService, kafka_bootstrap_servers: str) -> None:
    ivan = svc.token("ivan")
    _, item = await exchange(svc, ivan, await svc.link_via_emulator(ivan))
    item_id = item["item_id"]

    async def status_is(status: str) -> bool:
        return (await svc.call("GET", f"/v1/items/{item_id}", ivan)).json()["status"] == status

    svc.emu.control("POST", f"/items/{item_id}/webhook", {"webhook_code": "PENDING_EXPIRATION"})
    await wait_until(lambda: status_is("pending_expiration"))
    svc.emu.control("POST", f"/items/{item_id}/webhook", {"webhook_code": "USER_PERMISSION_REVOKED"})
    await wait_until(lambda: status_is("permission_revoked"))
    events = await read_events(kafka_bootstrap_servers, svc.topic(ev.TOPIC_ITEMS), at_least=3)
    changes = [
        ev.ItemStatusChanged.model_validate(e.data) for e in events if e.type == ev.ITEM_STATUS_CHANGED
    ]
    assert [(c.previous_status, c.status, c.trigger) for c in changes] == [
        ("good", "pending_expiration", "webhook"),
        ("pending_expiration", "permission_revoked", "webhook"),
    ]


async def test_after_plaid_rotates_its_key_new_webhooks_verify_with_the_new_kid(svc: LinkService) -> None:
    olga = svc.token("olga")
    _, item = await exchange(svc, olga, await svc.link_via_emulator(olga))
    rotated = svc.emu.control("POST", "/webhook_keys/rotate")
    svc.emu.control("POST", f"/items/{item['item_id']}/webhook", {"webhook_code": "USER_ACCOUNT_REVOKED"})

    async def accepted() -> bool:
        return await webhook_rows(svc, "USER_ACCOUNT_REVOKED") == 1

    await wait_until(accepted)
    jwk = svc.emu.plaid("/webhook_verification_key/get", {"key_id": rotated["expired_kid"]}).json()["key"]
    assert jwk["expired_at"] is not None  # the old key is published as expired; the verifier would refuse it


async def test_oversized_bodies_and_other_methods_are_refused(svc: LinkService) -> None:
    huge = b'{"webhook_type": "ITEM", "pad": "' + b"x" * 300_000 + b'"}'
    assert await post(svc, huge, "a.b.c") == 413
    assert (await svc.call("GET", "/v1/plaid/webhooks")).status_code == 405
    assert await webhook_rows(svc) == 0


async def test_the_openapi_document_describes_the_webhook_route_next_to_the_api(svc: LinkService) -> None:
    schema = svc.container.app.openapi()
    webhook = schema["paths"]["/v1/plaid/webhooks"]["post"]
    assert [p["name"] for p in webhook["parameters"]] == ["Plaid-Verification"]
    assert set(webhook["responses"]) == {"200", "401", "413", "500"}
    assert webhook["requestBody"]["content"]["application/json"]["example"]["webhook_type"]
    for path in (
        "/v1/link-tokens",
        "/v1/items",
        "/v1/items/{item_id}",
        "/internal/v1/items/{item_id}/access-token",
    ):
        assert path in schema["paths"]


async def test_2000_webhooks_with_invented_kids_cost_a_few_plaid_calls_and_bounded_state(
    svc: LinkService,
) -> None:
    body = webhook_body("item-flood")
    signer = SigningKey()
    headers = []
    for _ in range(2000):
        signer.kid = uuid.uuid4().hex
        headers.append(signer.sign(body))
    gate = asyncio.Semaphore(16)

    async def one(header: str) -> int:
        async with gate:
            return await post(svc, body, header)

    started = time.monotonic()
    assert set(await asyncio.gather(*(one(h) for h in headers))) == {401}
    elapsed = time.monotonic() - started
    fetches = await svc.pool.fetchval(
        "SELECT count(*) FROM plaid_calls WHERE endpoint = '/webhook_verification_key/get'"
    )
    s = svc.container.settings  # the budget: a burst, then one fetch per interval
    assert fetches <= s.webhook_key_fetch_burst + elapsed / s.webhook_key_fetch_interval_seconds
    footprint = svc.container.deps.verifier.footprint()
    assert footprint["unknown"] <= fetches and footprint["fetching"] == 0 and footprint["keys"] == 0
    assert await webhook_rows(svc) == 0


def b64url(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_deeply_nested_json_is_refused_as_malformed_never_a_500(svc: LinkService) -> None:
    deep = b"[" * 3000 + b"]" * 3000
    # in the unsigned claims, before any key is looked up (anyone can send this)
    head = b64url(b'{"alg":"ES256","kid":"k"}')
    claims = b64url(b'{"iat":1,"x":' + deep[:1500] + deep[-1500:] + b"}")
    assert len(claims) < 4096
    assert await post(svc, b"{}", f"{head}.{claims}.{b64url(b'x' * 64)}") == 401
    # in a body Plaid really signed: verified, then refused unparsed, nothing recorded
    for nested in (deep, b"[" * 40 + b"]" * 40):
        body = (
            b'{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"i","x":%s}'
            % nested
        )
        header = str(svc.emu.control("POST", "/webhooks/sign", {"body": body.decode()})["plaid_verification"])
        assert await post(svc, body, header) == 401
    assert await webhook_rows(svc) == 0
    metrics = (await svc.call("GET", "/metrics")).text
    assert 'link_svc_webhooks_rejected_total{reason="malformed"} 3.0' in metrics
    assert all(r.status_code < 500 for r in svc.responses)


async def test_while_plaid_fails_forged_webhooks_naming_a_cached_kid_cost_one_key_refresh(
    database_url: str, kafka_bootstrap_servers: str, emu: RunningEmulator
) -> None:
    """A cached key past its refresh, Plaid answering 500: each forged webhook naming that kid (no key
    needed, only the public header) was a fresh /webhook_verification_key/get, 200 for 200."""
    body = webhook_body("item-refresh")
    genuine = str(emu.control("POST", "/webhooks/sign", {"body": body.decode()})["plaid_verification"])
    head = genuine.partition(".")[0]
    async with running_link_service(
        database_url, kafka_bootstrap_servers, emu, webhook_key_refresh_seconds=0.5
    ) as svc:
        assert await post(svc, body, genuine) == 200  # the key is cached
        await asyncio.sleep(0.6)  # and now due for a refresh
        emu.set_fault(
            endpoint="/webhook_verification_key/get", error_code="INTERNAL_SERVER_ERROR", count=None
        )
        try:
            before = await key_fetches(svc)
            for n in range(100):
                forged = webhook_body(f"item-{n}")
                claims = {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(forged).hexdigest()}
                header = f"{head}.{b64url(json.dumps(claims).encode())}.{b64url(b'x' * 64)}"
                assert await post(svc, forged, header) == 401
            assert await key_fetches(svc) - before == 1  # the refresh failed once; the key is kept
            assert (
                await post(
                    svc,
                    body,
                    emu.control("POST", "/webhooks/sign", {"body": body.decode()})["plaid_verification"],
                )
                == 200
            )
        finally:
            emu.clear_faults()


async def key_fetches(svc: LinkService) -> int:
    return int(
        await svc.pool.fetchval(
            "SELECT count(*) FROM plaid_calls WHERE endpoint = '/webhook_verification_key/get'"
        )
    )


async def test_signed_bodies_with_fields_of_the_wrong_type_or_a_nul_are_never_a_500(svc: LinkService) -> None:
    """A field of the wrong type is read as absent (the tolerant reader); a NUL, which PostgreSQL cannot
    store, makes the body malformed (401, like a body too deep to parse). Both were a 500."""
    wes = svc.token("wes")
    _, item = await exchange(svc, wes, await svc.link_via_emulator(wes))
    item_id = item["item_id"]
    bodies = {
        "error code a list": (200, {"item_id": item_id, "error": {"error_code": ["ITEM_LOGIN_REQUIRED"]}}),
        "error code a number": (200, {"item_id": item_id, "error": {"error_code": 5}}),
        "NUL in the item id": (401, {"item_id": "a\u0000b"}),
        "NUL in the code": (401, {"item_id": item_id, "webhook_code": "ERR\u0000OR"}),
    }
    for name, (expected, fields) in bodies.items():
        raw = json.dumps({"webhook_type": "ITEM", "webhook_code": "ERROR", **fields})
        header = str(svc.emu.control("POST", "/webhooks/sign", {"body": raw})["plaid_verification"])
        assert await post(svc, raw.encode(), header) == expected, name
    assert (await svc.call("GET", f"/v1/items/{item_id}", wes)).json()["status"] == "good"
    assert all(r.status_code < 500 for r in svc.responses)
