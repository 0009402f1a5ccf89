"""Failures the sync-worker reports (bankstream.sync-runs) move Items; everything else there is ignored,
but for another version of SyncFailed: dead-lettered, to be replayed once link-svc reads it."""

import pytest
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.producer import create_producer
from bankstream_common.kafka.topics import dlq_topic
from bankstream_common.testing.waiting import read_events
from link_svc.domain import events as ev

from .harness import LinkService, exchange, wait_until

pytestmark = pytest.mark.integration


async def test_login_required_from_a_sync_breaks_the_item_and_noise_is_ignored(
    svc: LinkService, kafka_bootstrap_servers: str
) -> None:
    judy = svc.token("judy")
    _, item = await exchange(svc, judy, await svc.link_via_emulator(judy))
    item_id = item["item_id"]
    producer = create_producer(kafka_bootstrap_servers, client_id="test-sync-worker")
    await producer.start()
    try:

        def envelope(type_: str, data: dict[str, object]) -> bytes:
            return Envelope.new(
                source="bankstream/sync-worker", type=type_, subject=item_id, data=data
            ).to_json()

        topic = svc.topic(ev.TOPIC_SYNC_RUNS)
        await producer.send_and_wait(
            topic, envelope("bankstream.sync.completed.v1", {"item_id": item_id}), key=item_id.encode()
        )
        newer = envelope(ev.SYNC_FAILED.replace(".v1", ".v2"), {"item_id": item_id, "error_code": "X"})
        await producer.send_and_wait(topic, newer, key=item_id.encode())  # not read yet: dead-lettered
        transient = {"item_id": item_id, "error_code": "INSTITUTION_DOWN", "attempt": 1}
        await producer.send_and_wait(topic, envelope(ev.SYNC_FAILED, transient), key=item_id.encode())
        broken = {
            "item_id": item_id,
            "error_code": "ITEM_LOGIN_REQUIRED",
            "error_type": "ITEM_ERROR",
            "attempt": 1,
        }
        await producer.send_and_wait(topic, envelope(ev.SYNC_FAILED, broken), key=item_id.encode())
    finally:
        await producer.stop()

    async def login_required() -> bool:
        return (await svc.call("GET", f"/v1/items/{item_id}", judy)).json()["status"] == "login_required"

    await wait_until(login_required)
    history = (await svc.call("GET", f"/v1/items/{item_id}", judy)).json()["status_history"]
    assert [(h["to_status"], h["trigger"], h["code"]) for h in history] == [
        ("login_required", "sync_failure", "ITEM_LOGIN_REQUIRED")
    ]
    assert await svc.pool.fetchval("SELECT count(*) FROM inbox") == 3  # the v2 was never applied
    dead = await read_events(kafka_bootstrap_servers, dlq_topic(topic), at_least=1)
    assert [e.type for e in dead] == ["bankstream.sync.failed.v2"]
