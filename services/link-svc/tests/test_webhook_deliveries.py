"""A webhook is a delivery, not a body (issue #10, defect 1): Plaid's webhooks carry no id and no timestamp,
so a second SYNC_UPDATES_AVAILABLE, ERROR or LOGIN_REPAIRED of an Item is byte-identical to the first.
Each new signed delivery must have its effect; only a replay of the same signed delivery (the same JWT,
within its 5-minute `iat` window) is absorbed. Real link-svc, emulator, PostgreSQL and Kafka."""

import json
import time

import pytest
from link_svc.domain import events as ev

from .harness import LinkService, exchange, read_events, wait_until

pytestmark = pytest.mark.integration


def sync_updates_body(item_id: str) -> bytes:
    """The body Plaid sends for every SYNC_UPDATES_AVAILABLE of an Item once its history is in."""
    return json.dumps(
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


def signed_by_plaid(svc: LinkService, body: bytes, iat: int) -> str:
    """The `Plaid-Verification` header the emulator's current key sends with `body`, issued at `iat`."""
    answer = svc.emu.control("POST", "/webhooks/sign", {"body": body.decode(), "iat": iat})
    return str(answer["plaid_verification"])


async def post(svc: LinkService, body: bytes, header: str) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", "Plaid-Verification": header}
    response = await svc.call("POST", "/v1/plaid/webhooks", content=body, headers=headers)
    return response.status_code, response.json().get("status", "")


async def test_sync_updates_available_twice_minutes_apart_publishes_twice_and_a_replay_once(
    svc: LinkService, kafka_bootstrap_servers: str
) -> None:
    nina = svc.token("nina")
    _, item = await exchange(svc, nina, await svc.link_via_emulator(nina))
    item_id = item["item_id"]
    body = sync_updates_body(item_id)
    now = int(time.time())
    first, second = signed_by_plaid(svc, body, now - 240), signed_by_plaid(svc, body, now)

    assert await post(svc, body, first) == (200, "received")
    assert await post(svc, body, second) == (200, "received")  # 4 minutes later, the same bytes
    assert await post(svc, body, first) == (200, "duplicate")  # the first delivery replayed

    def mine(events: list) -> list:  # type: ignore[type-arg]
        return [
            e
            for e in events
            if e.subject == item_id
            and e.data["webhook_code"] == "SYNC_UPDATES_AVAILABLE"
            and e.data["body"].get("historical_update_complete") is True
        ]

    topic = svc.topic(ev.TOPIC_PLAID_WEBHOOKS)

    async def two_published() -> list:  # type: ignore[type-arg]
        found = mine(await read_events(kafka_bootstrap_servers, topic, at_least=2, timeout=2))
        return found if len(found) >= 2 else []

    published = await wait_until(two_published, timeout=30)
    assert len(published) == 2
    assert published[0].id != published[1].id


async def test_the_emulator_sending_the_same_webhook_twice_gets_it_published_twice(
    svc: LinkService, kafka_bootstrap_servers: str
) -> None:
    omar = svc.token("omar")
    _, item = await exchange(svc, omar, await svc.link_via_emulator(omar))
    item_id = item["item_id"]
    for _ in range(2):
        svc.emu.control("POST", f"/items/{item_id}/webhook", {"webhook_code": "NEW_ACCOUNTS_AVAILABLE"})

    async def both_delivered() -> bool:
        attempts = [
            a
            for a in svc.emu.webhook_attempts()
            if a["webhook_code"] == "NEW_ACCOUNTS_AVAILABLE" and a["item_id"] == item_id
        ]
        return len(attempts) == 2 and all(a["status"] == 200 for a in attempts)

    await wait_until(both_delivered)
    topic = svc.topic(ev.TOPIC_PLAID_WEBHOOKS)

    async def two_published() -> list:  # type: ignore[type-arg]
        events = await read_events(kafka_bootstrap_servers, topic, at_least=2, timeout=2)
        found = [
            e for e in events if e.subject == item_id and e.data["webhook_code"] == "NEW_ACCOUNTS_AVAILABLE"
        ]
        return found if len(found) == 2 else []

    await wait_until(two_published, timeout=30)


async def test_error_login_repaired_error_login_repaired_each_reach_their_status(
    svc: LinkService, kafka_bootstrap_servers: str
) -> None:
    pia = svc.token("pia")
    _, item = await exchange(svc, pia, await svc.link_via_emulator(pia))
    item_id = item["item_id"]

    async def status_is(status: str) -> bool:
        return (await svc.call("GET", f"/v1/items/{item_id}", pia)).json()["status"] == status

    for _ in range(2):
        svc.emu.set_item_error(item_id, "ITEM_LOGIN_REQUIRED")  # ITEM ERROR, the same bytes each time
        await wait_until(lambda: status_is("login_required"))
        svc.emu.set_item_error(item_id, None)  # ITEM LOGIN_REPAIRED, the same bytes each time
        await wait_until(lambda: status_is("good"))

    events = await read_events(kafka_bootstrap_servers, svc.topic(ev.TOPIC_ITEMS), at_least=5)
    changes = [
        ev.ItemStatusChanged.model_validate(e.data)
        for e in events
        if e.type == ev.ITEM_STATUS_CHANGED and e.subject == item_id
    ]
    assert [(c.previous_status, c.status, c.code) for c in changes] == [
        ("good", "login_required", "ITEM_LOGIN_REQUIRED"),
        ("login_required", "good", "LOGIN_REPAIRED"),
    ] * 2
