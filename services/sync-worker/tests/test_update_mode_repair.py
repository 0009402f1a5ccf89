"""A repair through Link's update mode resumes syncing without any webhook (issue #13, item 2).

Plaid fires LOGIN_REPAIRED only when an Item recovers without the user going through update mode in the app.
After update mode, link-svc learns of the repair from the front end (`update-completed`) and publishes
`bankstream.item.status_changed.v1` with status good: that event alone must resume the paused Item.
Real Kafka and PostgreSQL, Plaid over HTTP to the emulator, the repair through the emulator's Link stand-in.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from plaid_emulator.testing import RunningEmulator, running_emulator

from .harness import Worker, running_worker
from .test_sync_against_emulator import _settings, assert_converged

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator(not_ready_delay=0, historical_delay=0) as emu:
        yield emu


@pytest.fixture
async def worker(
    database_url: str, kafka_bootstrap_servers: str, emulator: RunningEmulator, uid: str
) -> AsyncIterator[Worker]:
    async with running_worker(_settings(database_url, kafka_bootstrap_servers, emulator, uid)) as w:
        yield w


async def status_changed(worker: Worker, item_id: str, previous: str, status: str, trigger: str) -> None:
    """What link-svc publishes when an Item moves (its ItemStatusChanged)."""
    await worker.publish(
        "bankstream.items",
        "bankstream.item.status_changed.v1",
        {
            "user_id": "u1",
            "item_id": item_id,
            "status": status,
            "previous_status": previous,
            "trigger": trigger,
            "code": None,
            "changed_at": datetime.now(UTC).isoformat(),
        },
    )


def update_mode(emu: RunningEmulator, access_token: str) -> None:
    """The user goes through Link's update mode (the emulator's stand-in for Link)."""
    created = emu.plaid(
        "/link/token/create",
        {
            "client_name": "bankstream",
            "language": "en",
            "country_codes": ["US"],
            "user": {"client_user_id": "u1"},
            "access_token": access_token,
        },
    )
    assert created.status_code == 200, created.text
    done = emu.http.post(
        "/link/complete",
        json={
            "link_token": created.json()["link_token"],
            "institution_id": "ins_109508",
            "username": "user_good",
            "password": "pass_good",
        },
    )
    assert done.status_code == 200, done.text


async def test_update_completed_alone_resumes_syncing(
    worker: Worker, emulator: RunningEmulator, reader
) -> None:
    item = emulator.create_item(transactions=400, ready=True)
    item_id, access = item["item_id"], item["access_token"]
    await worker.link(item_id, access)
    await worker.wait_runs(item_id, 1)

    emulator.plaid("/sandbox/item/reset_login", {"access_token": access})
    await status_changed(worker, item_id, "good", "login_required", "webhook")
    for _ in range(200):
        if (await worker.item(item_id))["status"] == "needs_attention":
            break
        await asyncio.sleep(0.05)
    assert (await worker.item(item_id))["status"] == "needs_attention"
    emulator.advance(days=2)  # the bank's data moves on while the Item is broken

    update_mode(emulator, access)
    assert "LOGIN_REPAIRED" not in {
        a["webhook_code"] for a in emulator.webhook_attempts() if a["item_id"] == item_id
    }
    await status_changed(worker, item_id, "login_required", "good", "update_mode")  # and nothing else
    runs = await worker.wait_runs(item_id, 2)
    assert len(runs) == 2 and runs[1]["outcome"] == "completed"
    assert "login_repaired" in runs[1]["triggers"]
    assert (await worker.item(item_id))["status"] == "active"
    await assert_converged(worker, reader, emulator, item_id)
