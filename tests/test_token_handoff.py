"""The vault handoff across two real services: the sync-worker's token adapter against a real link-svc.

link-svc runs as its own process against the real database, broker and the Plaid emulator; an Item is
linked through its API and the emulator's Link stand-in; the sync-worker's `HttpTokenProvider` (the code
it runs in production) gets a token that Plaid accepts, then `ItemUnknown` once the Item is removed.
Tokens travel over HTTP only, as ADR 0001 says; nothing here crosses Kafka.
"""

import asyncio
import base64
import json
import os
import time
import uuid

import httpx
import jwt
import pytest
from bankstream_common.testing.service_process import ServiceUnderTest, running_service
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from plaid_emulator.testing import running_emulator
from sync_worker.adapters.token_provider import HttpTokenProvider
from sync_worker.domain.errors import ItemUnknown, TokenProviderUnavailable

pytestmark = pytest.mark.integration

ISSUER, AUDIENCE, KID = "bankstream-test-issuer", "link-svc", "handoff"
KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_PEM = (
    KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def bearer(subject: str, kind: str, scopes: list[str]) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "kind": kind,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, KEY, algorithm="ES256", headers={"kid": KID})


async def test_sync_worker_gets_a_working_token_then_item_unknown_after_removal(
    database_url: str, kafka_bootstrap_servers: str
) -> None:
    vault_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    with running_emulator(seed=uuid.uuid4().int % 2**31) as emu:  # fresh ids on a reused database
        service = ServiceUnderTest(
            "link-svc",
            "LINK_SVC_",
            {
                "LINK_SVC_VAULT_KEYS": json.dumps({"k1": vault_key}),
                "LINK_SVC_VAULT_ACTIVE_KEY_ID": "k1",
                "LINK_SVC_JWT_PUBLIC_KEYS": json.dumps({KID: PUBLIC_PEM}),
                "LINK_SVC_JWT_ISSUER": ISSUER,
                "PLAID_BASE_URL": emu.url,
                "PLAID_CLIENT_ID": emu.client_id,
                "PLAID_SECRET": emu.secret,
            },
        )
        with running_service(
            service, database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap_servers
        ) as link:
            scopes = ["items:read", "items:write", "link:write"]
            user = {"Authorization": f"Bearer {bearer('user-handoff', 'user', scopes)}"}
            async with httpx.AsyncClient(base_url=link.base_url, timeout=30) as api:
                for _ in range(100):  # ready: its database and broker answer
                    if (await api.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.1)
                link_token = (
                    (await api.post("/v1/link-tokens", json={}, headers=user)).raise_for_status().json()
                )
                success = (
                    emu.http.post(
                        "/link/complete",
                        json={
                            "link_token": link_token["link_token"],
                            "institution_id": "ins_109508",
                            "username": "user_good",
                            "password": "pass_good",
                        },
                    )
                    .raise_for_status()
                    .json()
                )
                created = await api.post("/v1/items", json=success, headers=user)
                assert created.status_code == 201, link.output()[-3000:]
                item = created.json()

                provider = HttpTokenProvider(link.base_url, bearer("sync-worker", "service", ["vault:read"]))
                try:
                    token = await provider.access_token(item["item_id"])
                    assert token.startswith("access-sandbox-")
                    accounts = emu.http.post(
                        "/accounts/get",
                        json={"client_id": emu.client_id, "secret": emu.secret, "access_token": token},
                    )
                    assert accounts.status_code == 200, accounts.text
                    assert accounts.json()["item"]["item_id"] == item["item_id"]

                    # a user token never opens the vault, whatever its scopes
                    sneaky = HttpTokenProvider(link.base_url, bearer("user-handoff", "user", ["vault:read"]))
                    try:
                        with pytest.raises(TokenProviderUnavailable) as refused:
                            await sneaky.access_token(item["item_id"])
                    finally:
                        await sneaky.aclose()
                    assert refused.value.error_code == "LINK_SVC_HTTP_403"

                    (await api.delete(f"/v1/items/{item['item_id']}", headers=user)).raise_for_status()
                    with pytest.raises(ItemUnknown) as gone:
                        await provider.access_token(item["item_id"])
                    assert gone.value.error_code == "ITEM_REMOVED"
                finally:
                    await provider.aclose()
            assert token not in link.output(), "the access token reached link-svc's log"
