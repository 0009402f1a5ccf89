"""link-svc running in the test's event loop on a real loopback port, against the Plaid emulator,
a per-test PostgreSQL schema and per-test Kafka topic names (isolation by name, never by sleeping)."""

import asyncio
import base64
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import uvicorn
from bankstream_common.dev_issuer import mint, public_pem
from bankstream_common.testing.waiting import read_events as read_events  # the tests import these from here
from bankstream_common.testing.waiting import true
from bankstream_common.testing.waiting import wait_until as wait_until
from cryptography.hazmat.primitives.asymmetric import ec
from link_svc.bootstrap import Container, bootstrap
from link_svc.config import Settings
from plaid_emulator.testing import RunningEmulator

ISSUER = "test-issuer"
USER_SCOPES = ("items:read", "items:write", "link:write")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LinkService:
    url: str
    container: Container
    emu: RunningEmulator
    issuer_key: ec.EllipticCurvePrivateKey
    topic_prefix: str
    http: httpx.AsyncClient
    bearer_tokens: list[str] = field(default_factory=list)
    responses: list[httpx.Response] = field(default_factory=list)

    @property
    def pool(self) -> Any:
        return self.container.pool

    def token(self, sub: str, scopes: tuple[str, ...] = USER_SCOPES, kind: str = "user") -> str:
        token = mint(self.issuer_key, subject=sub, scopes=scopes, kind=kind, issuer=ISSUER, kid="test")
        self.bearer_tokens.append(token)
        return token

    async def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = await self.http.request(method, path, headers=headers, **kw)
        self.responses.append(response)
        return response

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    async def link_via_emulator(
        self, token: str, institution_id: str = "ins_109508", **creds: str
    ) -> dict[str, Any]:
        """Create a Link token through the API, then play the user in the Link stand-in: Link's onSuccess."""
        created = await self.call("POST", "/v1/link-tokens", token, json={})
        assert created.status_code == 201, created.text
        return await self.complete_link(created.json()["link_token"], institution_id, **creds)

    async def complete_link(
        self, link_token: str, institution_id: str = "ins_109508", **creds: str
    ) -> dict[str, Any]:
        body = {
            "link_token": link_token,
            "institution_id": institution_id,
            "username": creds.get("username", "user_good"),
            "password": creds.get("password", "pass_good"),
        }
        answer = await asyncio.to_thread(self.emu.http.post, "/link/complete", json=body)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


def settings_for(
    database_url: str,
    kafka: str,
    emu: RunningEmulator,
    key: ec.EllipticCurvePrivateKey,
    port: int,
    uid: str,
    **extra: Any,
) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka,
        "http_port": port,
        "plaid_env": "emulator",
        "plaid_base_url": emu.url,
        "plaid_client_id": emu.client_id,
        "plaid_secret": emu.secret,
        "jwt_issuer": ISSUER,
        "jwt_public_keys": {"test": public_pem(key)},
        "vault_keys": json.dumps({"v1": base64.urlsafe_b64encode(os.urandom(32)).decode()}),
        "vault_active_key_id": "v1",
        "link_webhook_url": f"http://127.0.0.1:{port}/v1/plaid/webhooks",
        "schema_name": f"link_t_{uid}",
        "topic_prefix": f"t{uid}.",
        "consumer_group": f"link-svc-{uid}",
        "topic_partitions": 2,
        **extra,
    }
    return Settings(**values)


@asynccontextmanager
async def running_link_service(
    database_url: str, kafka: str, emu: RunningEmulator, **extra: Any
) -> AsyncIterator[LinkService]:
    uid = uuid.uuid4().hex[:10]
    key = ec.generate_private_key(ec.SECP256R1())
    port = free_port()
    settings = settings_for(database_url, kafka, emu, key, port, uid, **extra)
    container = await bootstrap(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            container.app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
    )
    serving = asyncio.create_task(server.serve())
    background = asyncio.create_task(container.background.run())
    try:
        await wait_until(lambda: true(server.started and container.background.ready.is_set()), timeout=60)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield LinkService(f"http://127.0.0.1:{port}", container, emu, key, settings.topic_prefix, http)
    finally:
        container.background.stop()
        server.should_exit = True
        await asyncio.wait_for(asyncio.gather(serving, background, return_exceptions=True), 30)
        await container.aclose()


async def exchange(svc: LinkService, token: str, success: dict) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = await svc.call(
        "POST",
        "/v1/items",
        token,
        json={"public_token": success["public_token"], "metadata": success["metadata"]},
    )
    return r.status_code, r.json()
