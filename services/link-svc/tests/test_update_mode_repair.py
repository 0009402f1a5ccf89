"""Update mode alone returns an Item to good (issue #13, item 2): Plaid fires LOGIN_REPAIRED only when an Item
recovers without the user going through update mode in the app; after update mode the app learns of the
repair from Link's onSuccess, which the front end reports to `update-completed`. Nothing may wait for the
webhook. Real PostgreSQL, Kafka and the Plaid emulator."""

import pytest
from link_svc.domain import events as ev

from .harness import LinkService, exchange, read_events, wait_until

pytestmark = pytest.mark.integration


async def _status(svc: LinkService, token: str, item_id: str) -> str:
    return str((await svc.call("GET", f"/v1/items/{item_id}", token)).json()["status"])


async def test_update_completed_alone_returns_the_item_to_good_and_says_so(
    svc: LinkService, kafka_bootstrap_servers: str
) -> None:
    erin = svc.token("erin")
    code, item = await exchange(svc, erin, await svc.link_via_emulator(erin))
    assert code == 201, item
    item_id = item["item_id"]
    svc.emu.set_item_error(item_id, "ITEM_LOGIN_REQUIRED")  # Plaid's ITEM ERROR webhook reaches us
    await wait_until(lambda: _is_login_required(svc, erin, item_id))

    update = await svc.call(
        "POST", f"/v1/items/{item_id}/link-token", erin, json={"reason": "login_required"}
    )
    assert update.status_code == 201, update.text
    await svc.complete_link(update.json()["link_token"])  # the user logs in again in Link: onSuccess
    assert await _status(svc, erin, item_id) == "login_required"  # Plaid told us nothing (no webhook)

    repaired = await svc.call("POST", f"/v1/items/{item_id}/update-completed", erin, json={})
    assert repaired.status_code == 200 and repaired.json()["status"] == "good", repaired.text
    history = (await svc.call("GET", f"/v1/items/{item_id}", erin)).json()["status_history"]
    assert [(h["from_status"], h["to_status"], h["trigger"]) for h in history] == [
        ("good", "login_required", "webhook"),
        ("login_required", "good", "update_mode"),
    ]
    # what the sync-worker acts on: the Item is good again (it resumes syncing on this event)
    events = await read_events(kafka_bootstrap_servers, svc.topic(ev.TOPIC_ITEMS), at_least=3)
    changed = [e for e in events if e.subject == item_id and e.type == ev.ITEM_STATUS_CHANGED]
    assert [(e.data["previous_status"], e.data["status"]) for e in changed] == [
        ("good", "login_required"),
        ("login_required", "good"),
    ]
    sent = {(a["item_id"], a["webhook_code"]) for a in svc.emu.webhook_attempts()}
    assert (item_id, "ERROR") in sent and (item_id, "LOGIN_REPAIRED") not in sent


async def _is_login_required(svc: LinkService, token: str, item_id: str) -> bool:
    return await _status(svc, token, item_id) == "login_required"
