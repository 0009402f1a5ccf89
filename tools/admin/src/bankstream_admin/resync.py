"""Resync an Item: ask the sync-worker for a run, from the Item's cursor or from scratch.

The CLI writes no table of another service. It reads link-svc's `items` (does the Item exist, whose is
it, its status) and the sync-worker's `sync_items` (has it a cursor, is a run holding its lease), then
publishes the contract event SyncRequested (docs/events/bankstream.sync.requested.v1.schema.json) on
`bankstream.sync-requests`, keyed by item_id, as link-svc and ledger-api's refresh do. The sync-worker
turns it into a wanted run (several requests before the run starts become one run).

`from_scratch: true` makes that run forget the Item's cursor and page /transactions/sync from the empty
cursor (Plaid's way to get the whole history again): every transaction reaches consumers again as a newer
version of the same id, and a restart of that loop goes back to the empty cursor (docs/sync-worker.md).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from bankstream_common.db import check_schema
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.producer import create_producer
from bankstream_common.outbox import record_headers

SOURCE = "bankstream/admin"
SYNC_REQUESTED = "bankstream.sync.requested.v1"
SYNC_REQUESTS_TOPIC = "bankstream.sync-requests"
REQUESTED_BY = "bankstream-admin"
PAUSED = {"login_required", "permission_revoked", "error"}  # what the sync-worker pauses on

QUERY = """
SELECT i.item_id, i.user_id, i.status, s.status AS sync_status, s.cursor <> '' AS has_cursor,
       s.lease_until > now() AS leased
FROM {link}.items i LEFT JOIN {sync}.sync_items s USING (item_id)
WHERE i.item_id = $1
"""


@dataclass
class Resync:
    """What a resync asks for, and of which Item; `event` is the SyncRequested it publishes."""

    item_id: str
    status: str
    sync_status: str | None
    has_cursor: bool
    leased: bool
    from_scratch: bool
    event: Envelope
    topic: str

    @property
    def note(self) -> str | None:
        """Why the run may not start at once (the request is still recorded by the sync-worker)."""
        if self.status in PAUSED or self.sync_status == "needs_attention":
            return f"the Item is {self.status}: the sync-worker runs it once the login is repaired"
        if self.leased:
            return "a run holds the Item now: the requested run follows it"
        return None

    def as_json(self, *, sent: bool) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "status": self.status,
            "sync_status": self.sync_status,
            "has_cursor": self.has_cursor,
            "from_scratch": self.from_scratch,
            "sent": sent,
            "topic": self.topic,
            "event_id": str(self.event.id),
            "event": self.event.model_dump(mode="json"),
            "note": self.note,
        }


async def plan(
    database_url: str,
    item_id: str,
    *,
    from_scratch: bool,
    link_schema: str = "link_svc",
    sync_schema: str = "sync_worker",
    topic: str = SYNC_REQUESTS_TOPIC,
) -> Resync:
    """The request for `item_id`; LookupError if link-svc does not know it, ValueError if it is removed."""
    sql = QUERY.format(link=check_schema(link_schema), sync=check_schema(sync_schema))
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(sql, item_id)
    finally:
        await conn.close()
    if row is None:
        raise LookupError(f"no Item {item_id!r}")
    if row["status"] == "removed" or row["sync_status"] == "removed":
        raise ValueError(f"Item {item_id!r} is removed: a removed Item is never synced again")
    data = {
        "user_id": row["user_id"],
        "item_id": item_id,
        "requested_by": REQUESTED_BY,
        "refresh": False,  # a resync reads what Plaid has; /transactions/refresh is the user's refresh
        "from_scratch": from_scratch,
        "requested_at": datetime.now(UTC).isoformat(),
    }
    return Resync(
        item_id=item_id,
        status=row["status"],
        sync_status=row["sync_status"],
        has_cursor=bool(row["has_cursor"]),
        leased=bool(row["leased"]),
        from_scratch=from_scratch,
        event=Envelope.new(source=SOURCE, type=SYNC_REQUESTED, subject=item_id, data=data),
        topic=topic,
    )


async def send(bootstrap_servers: str, request: Resync, producer: AIOKafkaProducer | None = None) -> None:
    """Publish the request, waiting for its acknowledgement (the same producer path as a DLQ replay)."""
    own = producer is None
    producer = producer or create_producer(bootstrap_servers, client_id="bankstream-admin-resync")
    if own:
        await producer.start()
    try:
        await producer.send_and_wait(
            request.topic,
            value=request.event.to_json(),
            key=request.item_id.encode(),
            headers=record_headers(SYNC_REQUESTED, "[]"),
        )
    finally:
        if own:
            await producer.stop()
