"""A whole flow, then a scan of every log line, event, HTTP response and audit row for any access token,
public token, client secret, vault key or bearer JWT: none may appear anywhere.

The one deliberate exception is the internal vault endpoint's answer to the sync-worker (its purpose is to
hand over the access token, over authenticated HTTP, never Kafka): that response body is left out of the scan.
"""

import io
import re
import sys

import pytest
from aiokafka import AIOKafkaConsumer
from bankstream_common.logging import configure_logging
from link_svc.domain import events as ev

from .harness import LinkService, exchange, wait_until
from .webhook_signing import SigningKey, webhook_body

pytestmark = pytest.mark.integration

PATTERNS = [
    re.compile(r"(access|public)-(sandbox|development|production)-[0-9a-f-]{36}"),
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}"),  # any JWT
]


async def raw_topic(kafka: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    out: list[bytes] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=1500)
            if not batch:
                return out
            for records in batch.values():
                out.extend((r.value or b"") + b"".join(v for _, v in r.headers) for r in records)
    finally:
        await consumer.stop()


@pytest.fixture
def captured_logs() -> io.StringIO:
    buffer = io.StringIO()
    configure_logging("link-svc", "DEBUG", json=True, stream=buffer)
    yield buffer  # type: ignore[misc]
    configure_logging("link-svc", "INFO", json=False, stream=sys.stdout)


async def test_a_whole_flow_leaks_no_token_or_secret(
    svc: LinkService, captured_logs: io.StringIO, kafka_bootstrap_servers: str
) -> None:
    alice = svc.token("alice")
    worker = svc.token("sync-worker", ("vault:read",), kind="service")
    public_tokens, access_tokens, link_tokens = [], [], []

    created = await svc.call("POST", "/v1/link-tokens", alice, json={"days_requested": 30})
    link_tokens.append(created.json()["link_token"])
    success = await svc.complete_link(link_tokens[-1])
    public_tokens.append(success["public_token"])
    code, item = await exchange(svc, alice, success)
    assert code == 201
    item_id = item["item_id"]
    released = await svc.http.post(
        f"/internal/v1/items/{item_id}/access-token", headers={"Authorization": f"Bearer {worker}"}
    )
    access_tokens.append(released.json()["access_token"])  # the sanctioned channel, not scanned

    # duplicate refused, Plaid error on a used public token, forged webhook, Link exit with an error
    again = await svc.link_via_emulator(alice)
    public_tokens.append(again["public_token"])
    again["metadata"]["accounts"] = success["metadata"]["accounts"]
    assert (await exchange(svc, alice, again))[0] == 409
    # the same request again answers with the same Item (found by the public token, not exchanged again);
    # a public token Plaid does not know is Plaid's 400
    assert (await exchange(svc, alice, success)) == (201, item)
    unknown = success["public_token"][:-4] + (
        "0000" if not success["public_token"].endswith("0000") else "1111"
    )
    reused = dict(
        success,
        public_token=unknown,
        metadata={**success["metadata"], "institution": {"institution_id": "ins_109511"}},
    )
    public_tokens.append(unknown)
    assert (await exchange(svc, alice, reused))[0] == 400
    forged = SigningKey()
    body = webhook_body(item_id)
    assert (
        await svc.call(
            "POST", "/v1/plaid/webhooks", content=body, headers={"Plaid-Verification": forged.sign(body)}
        )
    ).status_code == 401
    await svc.call(
        "POST",
        "/v1/link-sessions/events",
        alice,
        json={
            "outcome": "exit",
            "link_session_id": "s",
            "error": {"error_type": "ITEM_ERROR", "error_code": "INVALID_CREDENTIALS"},
        },
    )

    # break, repair in update mode, sync, remove
    svc.emu.set_item_error(item_id, "ITEM_LOGIN_REQUIRED")

    async def broken() -> bool:
        return (await svc.call("GET", f"/v1/items/{item_id}", alice)).json()["status"] == "login_required"

    await wait_until(broken)
    update = await svc.call("POST", f"/v1/items/{item_id}/link-token", alice, json={"reason": "new_accounts"})
    link_tokens.append(update.json()["link_token"])
    repaired = await svc.complete_link(link_tokens[-1])
    public_tokens.append(repaired["public_token"])
    assert (
        await svc.call("POST", f"/v1/items/{item_id}/update-completed", alice, json={})
    ).status_code == 200
    assert (await svc.call("POST", f"/v1/items/{item_id}/sync", alice)).status_code == 202
    assert (await svc.call("GET", "/v1/items", alice)).status_code == 200
    assert (await svc.call("DELETE", f"/v1/items/{item_id}", alice)).status_code == 200
    await wait_until(lambda: _relayed(svc))

    # gather everything that left the service, or stayed in its tables
    chunks: list[bytes] = []
    for t in (ev.TOPIC_ITEMS, ev.TOPIC_PLAID_WEBHOOKS, ev.TOPIC_SYNC_REQUESTS, ev.TOPIC_ITEMS + ".dlq"):
        chunks.extend(await raw_topic(kafka_bootstrap_servers, svc.topic(t)))
    events = b"\n".join(chunks).decode()
    assert ev.ITEM_LINKED in events and ev.ITEM_REMOVED in events and ev.WEBHOOK_RECEIVED in events
    responses = "\n".join(f"{r.headers}\n{r.text}" for r in svc.responses)
    rows = []
    for t in (
        "items",
        "accounts",
        "item_status_changes",
        "link_sessions",
        "plaid_calls",
        "vault_releases",
        "webhook_deliveries",
    ):
        rows.extend(dict(r) for r in await svc.pool.fetch(f"SELECT * FROM {t}"))
    tables = str(rows)
    logs = captured_logs.getvalue()
    assert "item linked" in logs and "webhook rejected" in logs

    secrets = {
        **{f"access token {i}": t for i, t in enumerate(access_tokens)},
        **{f"public token {i}": t for i, t in enumerate(public_tokens)},
        **{f"bearer JWT {i}": t for i, t in enumerate(svc.bearer_tokens)},
        "plaid secret": svc.emu.secret,
        "vault key": svc.container.settings.vault_keys.get_secret_value().split('"')[3],
    }
    assert all(secrets.values())
    assert PATTERNS[0].fullmatch(access_tokens[0]) and PATTERNS[0].fullmatch(
        public_tokens[0]
    )  # the scan can see
    assert PATTERNS[1].match(alice)
    for where, text in {"logs": logs, "events": events, "responses": responses, "tables": tables}.items():
        for name, secret in secrets.items():
            assert secret not in text, f"{name} found in {where}"
        for pattern in PATTERNS:
            assert not pattern.search(text), f"{pattern.pattern} matched in {where}"
    for link_token in link_tokens:  # handed to the front end in a response, and nowhere else
        assert link_token not in logs and link_token not in events and link_token not in tables


async def _relayed(svc: LinkService) -> bool:
    return not await svc.pool.fetchval("SELECT count(*) FROM outbox")
