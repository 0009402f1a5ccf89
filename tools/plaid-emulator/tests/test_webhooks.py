"""Webhooks: signed as Plaid signs them (checked by a verifier written independently from Plaid's documented
algorithm), retried on Plaid's schedule, duplicated or reordered on demand, keys rotated."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


class Rejected(Exception):
    pass


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify(jwt_text: str, raw_body: bytes, fetch_key: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """Plaid's documented steps: header alg must be ES256; fetch the JWK by kid; refuse an expired key;
    verify the raw r||s signature over `header.payload`; iat at most 5 minutes old; constant-time compare of
    the SHA-256 of the raw body with request_body_sha256."""
    try:
        header_b64, payload_b64, signature_b64 = jwt_text.split(".")
        header = json.loads(_b64(header_b64))
    except ValueError as exc:
        raise Rejected("malformed JWT") from exc
    if header.get("alg") != "ES256":
        raise Rejected("alg is not ES256")
    jwk = fetch_key(header["kid"])
    if jwk.get("expired_at") is not None:
        raise Rejected("the key has expired")
    if (jwk["kty"], jwk["crv"], jwk["alg"]) != ("EC", "P-256", "ES256"):
        raise Rejected("not a P-256 ES256 key")
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_b64(jwk["x"]), "big"), int.from_bytes(_b64(jwk["y"]), "big"), ec.SECP256R1()
    ).public_key()
    signature = _b64(signature_b64)
    if len(signature) != 64:
        raise Rejected("an ES256 signature is 64 bytes")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public.verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise Rejected("bad signature") from exc
    claims = json.loads(_b64(payload_b64))
    if time.time() - claims["iat"] > 5 * 60:
        raise Rejected("iat is older than 5 minutes")
    if not hmac.compare_digest(hashlib.sha256(raw_body).hexdigest(), claims["request_body_sha256"]):
        raise Rejected("body hash does not match")
    return dict(claims)


@pytest.fixture
def fetch_key(emu: Any) -> Callable[[str], dict[str, Any]]:
    def fetch(kid: str) -> dict[str, Any]:
        response = emu.plaid("/webhook_verification_key/get", {"key_id": kid})
        assert response.status_code == 200, response.text
        return dict(response.json()["key"])

    return fetch


def fire(emu: Any, access: str, code: str) -> None:
    assert (
        emu.plaid("/sandbox/item/fire_webhook", {"access_token": access, "webhook_code": code}).status_code
        == 200
    )


def test_signature_verifies_and_tampering_is_caught(emu: Any, receiver: Any, fetch_key: Any) -> None:
    item = emu.create_item(ready=True, webhook=receiver.url)
    fire(emu, item["access_token"], "DEFAULT_UPDATE")
    headers, body, raw = receiver.wait_for("DEFAULT_UPDATE")
    claims = verify(headers["plaid-verification"], raw, fetch_key)
    assert claims["request_body_sha256"] == hashlib.sha256(raw).hexdigest()
    assert body == {
        "webhook_type": "TRANSACTIONS",
        "webhook_code": "DEFAULT_UPDATE",
        "item_id": item["item_id"],
        "error": None,
        "new_transactions": 0,
        "environment": "sandbox",
    }
    with pytest.raises(Rejected, match="body hash"):
        verify(headers["plaid-verification"], json.dumps(body).encode(), fetch_key)  # re-serialised body
    _, payload, signature = headers["plaid-verification"].split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "x"}).encode()).decode().rstrip("=")
    with pytest.raises(Rejected, match="ES256"):
        verify(f"{forged}.{payload}.{signature}", raw, fetch_key)


def test_key_rotation_expires_the_old_key(emu: Any, receiver: Any, fetch_key: Any) -> None:
    item = emu.create_item(ready=True, webhook=receiver.url)
    fire(emu, item["access_token"], "NEW_ACCOUNTS_AVAILABLE")
    old_headers, _, old_raw = receiver.wait_for("NEW_ACCOUNTS_AVAILABLE")
    rotated = emu.control("POST", "/webhook_keys/rotate")
    assert fetch_key(rotated["expired_kid"])["expired_at"] is not None
    with pytest.raises(Rejected, match="expired"):
        verify(old_headers["plaid-verification"], old_raw, fetch_key)
    fire(emu, item["access_token"], "NEW_ACCOUNTS_AVAILABLE")
    headers, _, raw = receiver.wait_for("NEW_ACCOUNTS_AVAILABLE")
    verify(headers["plaid-verification"], raw, fetch_key)
    assert json.loads(_b64(headers["plaid-verification"].split(".")[0]))["kid"] == rotated["kid"]


def test_non_200_is_retried_on_plaids_schedule(emu: Any, receiver: Any) -> None:
    item = emu.create_item(ready=True)
    emu.plaid("/item/webhook/update", {"access_token": item["access_token"], "webhook": receiver.url})
    receiver.wait_for("WEBHOOK_UPDATE_ACKNOWLEDGED")
    receiver.statuses = [500, 503]
    fire(emu, item["access_token"], "DEFAULT_UPDATE")
    bodies = [receiver.wait_for("DEFAULT_UPDATE")[2] for _ in range(3)]
    assert bodies[0] == bodies[1] == bodies[2]
    deadline = time.monotonic() + 5
    while True:  # the receiver may see the last POST before the emulator has recorded its answer
        attempts = [a for a in emu.webhook_attempts() if a["webhook_code"] == "DEFAULT_UPDATE"]
        if len(attempts) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, 500), (2, 503), (3, 200)]
    assert len({a["delivery"] for a in attempts}) == 1
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(attempts)]
    assert gaps[1] > gaps[0]  # 30 s then 120 s, scaled by 0.001


def test_duplicate_and_out_of_order_delivery(emu: Any, receiver: Any) -> None:
    item = emu.create_item(ready=True, webhook=receiver.url)
    emu.control("POST", "/webhooks/mode", {"duplicate": True})
    fire(emu, item["access_token"], "DEFAULT_UPDATE")
    assert receiver.wait_for("DEFAULT_UPDATE")[2] == receiver.wait_for("DEFAULT_UPDATE")[2]
    emu.control("POST", "/webhooks/mode", {"duplicate": False, "out_of_order": True})
    rehearse(emu, item["item_id"], "PENDING_EXPIRATION")  # not a /sandbox/item/fire_webhook code
    fire(emu, item["access_token"], "USER_PERMISSION_REVOKED")
    first = json.loads(receiver.next()[1])
    second = json.loads(receiver.next()[1])
    assert (first["webhook_code"], second["webhook_code"]) == (
        "USER_PERMISSION_REVOKED",
        "PENDING_EXPIRATION",
    )
    assert second["consent_expiration_time"].endswith("Z")
    assert first["error"]["error_code"] == "USER_PERMISSION_REVOKED"
    assert (
        emu.plaid("/accounts/get", {"access_token": item["access_token"]}).json()["error_code"]
        == "USER_PERMISSION_REVOKED"
    )


def rehearse(emu: Any, item_id: str, code: str) -> None:
    emu.control("POST", f"/items/{item_id}/webhook", {"webhook_code": code})


def test_every_webhook_the_emulator_can_send_matches_its_spec_schema_exactly(
    emu: Any, receiver: Any, spec_dict: dict[str, Any]
) -> None:
    """Each body validates against its schema and carries no field the schema lacks (the schemas allow
    extra properties, so a stray `error` would pass validation alone); every pair in events.SCHEMAS is
    seen, and the dispatcher sends nothing outside that list, so the list is everything the emulator
    sends."""
    from openapi_schema_validator import OAS30Validator
    from plaid_emulator.webhooks import events
    from plaid_emulator.webhooks.delivery import Dispatcher
    from plaid_emulator.webhooks.signing import KeyRing

    components = spec_dict["components"]
    item = emu.create_item(webhook=receiver.url, products=["transactions", "assets"])  # not ready yet
    access, item_id = item["access_token"], item["item_id"]
    emu.plaid("/transactions/sync", {"access_token": access})  # INITIAL_UPDATE, HISTORICAL_UPDATE, SYNC_...
    emu.plaid("/item/webhook/update", {"access_token": access, "webhook": receiver.url})
    for _ in range(3):
        emu.advance(days=1)  # pending transactions post: DEFAULT_UPDATE and TRANSACTIONS_REMOVED
    for code in ("PRODUCT_READY", "ERROR"):  # Assets webhooks, for an Item with assets
        fire(emu, access, code)
    for code in (
        "RECURRING_TRANSACTIONS_UPDATE",
        "NEW_ACCOUNTS_AVAILABLE",
        "PENDING_EXPIRATION",
        "PENDING_DISCONNECT",
        "USER_ACCOUNT_REVOKED",
        "ERROR",
        "LOGIN_REPAIRED",
        "USER_PERMISSION_REVOKED",
    ):
        rehearse(emu, item_id, code)
    seen: set[tuple[str, str]] = set()
    while seen != set(events.SCHEMAS):
        try:
            body = json.loads(receiver.next()[1])
        except Exception:
            raise AssertionError(f"never received {set(events.SCHEMAS) - seen}") from None
        pair = (body["webhook_type"], body["webhook_code"])
        schema = components["schemas"][events.SCHEMAS[pair]]
        OAS30Validator({**schema, "components": components}).validate(body)
        assert set(body) <= set(schema["properties"]), (pair, set(body) - set(schema["properties"]))
        seen.add(pair)

    # every webhook leaves through Dispatcher.send, which sends nothing outside events.SCHEMAS
    dispatcher = Dispatcher(KeyRing())
    with pytest.raises(ValueError):
        dispatcher.send(receiver.url, {**body, "webhook_type": "ITEM", "webhook_code": "SOMETHING_ELSE"})


def test_fire_webhook_answers_as_plaid_does(emu: Any, receiver: Any, checker: Any) -> None:
    """ERROR is an Assets webhook (asset report generation failed): on an Item without Assets it is
    SANDBOX_PRODUCT_NOT_ENABLED and the Item stays good; with Assets it fires ASSETS ERROR and the Item
    stays good. ITEM_LOGIN_REQUIRED comes from /sandbox/item/reset_login. Codes outside the spec's list
    are refused; the control API still rehearses them."""
    item = emu.create_item(ready=True, webhook=receiver.url)
    access = item["access_token"]

    def call(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = emu.plaid("/sandbox/item/fire_webhook", {"access_token": access, **body})
        return response.status_code, checker.check(
            "/sandbox/item/fire_webhook", body, response.status_code, response.content
        )

    status, out = call({"webhook_code": "ERROR"})
    assert (status, out["error_type"], out["error_code"]) == (
        400,
        "SANDBOX_ERROR",
        "SANDBOX_PRODUCT_NOT_ENABLED",
    )
    for code in ("PENDING_EXPIRATION", "INITIAL_UPDATE", "HISTORICAL_UPDATE", "TRANSACTIONS_REMOVED"):
        status, out = call({"webhook_code": code})
        assert (status, out["error_type"], out["error_code"]) == (400, "INVALID_REQUEST", "INVALID_FIELD"), (
            code
        )
    status, out = call({"webhook_code": "DEFAULT_UPDATE", "webhook_type": "AUTH"})
    assert (status, out["error_code"]) == (400, "SANDBOX_PRODUCT_NOT_ENABLED")
    assert emu.plaid("/accounts/get", {"access_token": access}).status_code == 200  # still good

    assets = emu.create_item(ready=True, webhook=receiver.url, products=["transactions", "assets"])
    response = emu.plaid(
        "/sandbox/item/fire_webhook", {"access_token": assets["access_token"], "webhook_code": "ERROR"}
    )
    assert response.status_code == 200 and response.json()["webhook_fired"] is True
    _, body, _ = receiver.wait_for("ERROR")
    assert body["webhook_type"] == "ASSETS" and body["error"]["error_type"] == "ASSET_REPORT_ERROR"
    assert emu.plaid("/accounts/get", {"access_token": assets["access_token"]}).status_code == 200

    status, _ = call({"webhook_code": "SYNC_UPDATES_AVAILABLE"})
    assert status == 200
    assert emu.plaid("/sandbox/item/reset_login", {"access_token": access}).status_code == 200
    _, body, _ = receiver.wait_for("ERROR")
    assert (body["webhook_type"], body["error"]["error_code"]) == ("ITEM", "ITEM_LOGIN_REQUIRED")
    assert emu.plaid("/accounts/get", {"access_token": access}).json()["error_code"] == "ITEM_LOGIN_REQUIRED"

    rehearse(emu, item["item_id"], "PENDING_EXPIRATION")  # the control API still rehearses it
    assert receiver.wait_for("PENDING_EXPIRATION")[1]["consent_expiration_time"].endswith("Z")


def test_the_control_api_signs_a_given_body_at_a_given_iat(emu: Any, fetch_key: Any) -> None:
    raw = b'{\n  "webhook_type": "TRANSACTIONS"\n}'
    iat = int(time.time()) - 240
    first = emu.control("POST", "/webhooks/sign", {"body": raw.decode(), "iat": iat})["plaid_verification"]
    again = emu.control("POST", "/webhooks/sign", {"body": raw.decode(), "iat": iat})["plaid_verification"]
    assert verify(first, raw, fetch_key)["iat"] == iat == verify(again, raw, fetch_key)["iat"]
    assert first != again  # ECDSA: each signing is a delivery of its own
    with pytest.raises(Rejected, match="body hash"):
        verify(first, raw + b" ", fetch_key)


async def test_at_most_32_deliveries_are_on_the_wire_and_a_queued_one_is_not_timed_out_waiting() -> None:
    """A receiver slower than the webhook rate sees at most MAX_IN_FLIGHT requests at once; the rest wait
    in the emulator, and their timeout starts only once they may go (400 webhooks held 0.3 s each take
    ~4 s in all, four times the 1 s timeout, yet every one is delivered on its first attempt; without the
    emulator's own queue, httpx's pool timed them out and they were retried: 768 attempts)."""
    from plaid_emulator.webhooks.delivery import MAX_IN_FLIGHT, Dispatcher
    from plaid_emulator.webhooks.signing import KeyRing

    open_now, most = 0, 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, most
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                open_now += 1
                most = max(most, open_now)
                await asyncio.sleep(0.3)
                open_now -= 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    dispatcher = Dispatcher(KeyRing(), time_scale=0.001, timeout=1.0)
    payload = {
        "webhook_type": "TRANSACTIONS",
        "webhook_code": "SYNC_UPDATES_AVAILABLE",
        "item_id": "item-slow",
        "initial_update_complete": True,
        "historical_update_complete": True,
        "environment": "sandbox",
    }
    try:
        started = time.perf_counter()
        for _ in range(400):
            dispatcher.send(f"http://127.0.0.1:{port}/hook", payload)
        async with asyncio.timeout(60):
            while dispatcher.pending_deliveries():  # noqa: ASYNC110 - it has no event to wait on
                await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        await dispatcher.aclose()
        server.close()
        await server.wait_closed()
    assert most == MAX_IN_FLIGHT == 32
    assert elapsed > 1.0  # longer than the timeout: the last ones waited their turn for longer than it
    assert len(dispatcher.attempts) == 400
    assert {a["status"] for a in dispatcher.attempts} == {200}
    assert {a["attempt"] for a in dispatcher.attempts} == {1}
