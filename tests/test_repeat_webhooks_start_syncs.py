"""Plaid's second "new data" webhook for an Item starts a second sync (issue #10, defect 1), across the real
services: link-svc and the sync-worker run as processes on one topic prefix, against the Plaid emulator,
PostgreSQL and Kafka. Plaid's `SYNC_UPDATES_AVAILABLE` bodies carry no id and no timestamp, so the second
is byte-identical to the first; only its signed delivery (its JWT, here issued four minutes later) differs.
"""

import asyncio
import base64
import json
import os
import time
import uuid

import asyncpg
import httpx
import jwt
import pytest
from bankstream_common.testing.service_process import ServiceUnderTest, running_service
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from plaid_emulator.testing import running_emulator

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ISSUER, KID = "bankstream-test-issuer", "repeat-webhooks"
KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_PEM = (
    KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
SYNC_TRIGGER = "webhook:SYNC_UPDATES_AVAILABLE"


def bearer(subject: str, kind: str, scopes: list[str]) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "link-svc",
        "sub": subject,
        "kind": kind,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, KEY, algorithm="ES256", headers={"kid": KID})


async def runs_triggered_by(conn: asyncpg.Connection, schema: str, item_id: str, trigger: str) -> int:
    exists = await conn.fetchval("SELECT to_regclass($1)", f"{schema}.sync_runs")
    if exists is None:
        return 0
    return int(
        await conn.fetchval(
            f"SELECT count(*) FROM {schema}.sync_runs WHERE item_id = $1 AND $2 = ANY(triggers)",
            item_id,
            trigger,
        )
    )


async def wait_for(check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


async def test_sync_updates_available_twice_minutes_apart_starts_two_syncs(
    database_url: str, kafka_bootstrap_servers: str
) -> None:
    uid = uuid.uuid4().hex[:10]
    prefix, worker_schema = f"t{uid}.", f"t_sw_{uid}"
    with running_emulator(seed=uuid.uuid4().int % 2**31, not_ready_delay=0, historical_delay=0) as emu:
        plaid = {"PLAID_BASE_URL": emu.url, "PLAID_CLIENT_ID": emu.client_id, "PLAID_SECRET": emu.secret}
        link_svc = ServiceUnderTest(
            "link-svc",
            "LINK_SVC_",
            {
                "LINK_SVC_VAULT_KEYS": json.dumps({"k1": base64.urlsafe_b64encode(os.urandom(32)).decode()}),
                "LINK_SVC_VAULT_ACTIVE_KEY_ID": "k1",
                "LINK_SVC_JWT_PUBLIC_KEYS": json.dumps({KID: PUBLIC_PEM}),
                "LINK_SVC_JWT_ISSUER": ISSUER,
                "LINK_SVC_TOPIC_PREFIX": prefix,
                **plaid,
            },
        )
        with running_service(
            link_svc, database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap_servers
        ) as link:
            worker = ServiceUnderTest(
                "sync-worker",
                "SYNC_WORKER_",
                {
                    "SYNC_WORKER_LINK_SVC_URL": link.base_url,
                    "SYNC_WORKER_LINK_SVC_TOKEN": bearer("sync-worker", "service", ["vault:read"]),
                    "SYNC_WORKER_TOPIC_PREFIX": prefix,
                    "SYNC_WORKER_SCHEMA_NAME": worker_schema,
                    "SYNC_WORKER_POLL_INTERVAL_SECONDS": "0.2",
                    **plaid,
                },
            )
            with running_service(
                worker, database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap_servers
            ) as sync:
                user = {
                    "Authorization": f"Bearer {bearer('user-repeat', 'user', ['link:write', 'items:read'])}"
                }
                conn = await asyncpg.connect(database_url)
                async with httpx.AsyncClient(base_url=link.base_url, timeout=30) as api:
                    try:
                        await wait_for(lambda: _ready(api), timeout=60)
                        link_token = (await api.post("/v1/link-tokens", json={}, headers=user)).json()
                        success = emu.http.post(
                            "/link/complete",
                            json={
                                "link_token": link_token["link_token"],
                                "institution_id": "ins_109508",
                                "username": "user_good",
                                "password": "pass_good",
                            },
                        ).json()
                        created = await api.post("/v1/items", json=success, headers=user)
                        assert created.status_code == 201, link.output()[-3000:]
                        item_id = created.json()["item_id"]
                        await wait_for(lambda: runs_triggered_by(conn, worker_schema, item_id, "item_linked"))

                        body = json.dumps(
                            {
                                "webhook_type": "TRANSACTIONS",
                                "webhook_code": "SYNC_UPDATES_AVAILABLE",
                                "item_id": item_id,
                                "initial_update_complete": True,
                                "historical_update_complete": True,
                                "environment": "sandbox",
                            },
                            indent=2,
                        ).encode()
                        now = int(time.time())
                        for n, iat in enumerate((now - 240, now), start=1):  # four minutes apart
                            header = emu.control(
                                "POST", "/webhooks/sign", {"body": body.decode(), "iat": iat}
                            )
                            posted = await api.post(
                                "/v1/plaid/webhooks",
                                content=body,
                                headers={
                                    "Content-Type": "application/json",
                                    "Plaid-Verification": header["plaid_verification"],
                                },
                            )
                            assert posted.json() == {"status": "received"}, (n, posted.text)

                            async def synced(n: int = n) -> bool:
                                return (
                                    await runs_triggered_by(conn, worker_schema, item_id, SYNC_TRIGGER) >= n
                                )

                            await wait_for(synced)
                        assert await runs_triggered_by(conn, worker_schema, item_id, SYNC_TRIGGER) == 2
                    except BaseException:
                        print(link.output()[-4000:], sync.output()[-4000:])
                        raise
                    finally:
                        await conn.execute(f"DROP SCHEMA IF EXISTS {worker_schema} CASCADE")
                        await conn.close()


async def _ready(api: httpx.AsyncClient) -> bool:
    return (await api.get("/readyz")).status_code == 200
