"""Group commit for verified webhooks: the ones that arrive together are recorded in ONE statement.

Each webhook still gets its own answer (published, or a duplicate of one already recorded). While one
statement is in flight, newly verified webhooks queue up; when it returns, everything queued goes in the
next one. There is no timer: a lone webhook is written at once; under load, batches grow by themselves
and the per-webhook cost of a round trip (and of taking a connection from the pool) shrinks with them.

The statement claims each delivery id in `webhook_deliveries` (the dedupe key: the signed JWT, never the
body, which two legitimate webhooks can share) and writes the outbox row of every delivery it claimed, in
one transaction, as bankstream_common.outbox.enqueue writes them (same columns, same NOTIFY channel). A
delivery that appears twice in one batch (a replay racing its original) is written once; its twin gets the
answer of the first.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from bankstream_common.envelope import Envelope

RECORD = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[],
                         $7::uuid[], $8::text[], $9::text[], $10::text[], $11::bytea[])
        WITH ORDINALITY AS u(delivery, sha, iat, wtype, wcode, item, event_id, topic, key, event_type,
                             payload, n)),
claimed AS (
    INSERT INTO webhook_deliveries (delivery_id, body_sha256, issued_at, webhook_type, webhook_code, item_id)
    SELECT delivery, sha, iat, wtype, wcode, item FROM input ORDER BY n
    ON CONFLICT DO NOTHING RETURNING delivery_id),
written AS (
    INSERT INTO outbox (event_id, topic, key, event_type, payload)
    SELECT i.event_id, i.topic, i.key, i.event_type, i.payload
    FROM input i JOIN claimed c ON c.delivery_id = i.delivery ORDER BY i.n
    RETURNING 1)
SELECT coalesce(array_agg(delivery_id), '{}') AS fresh,
       (SELECT pg_notify(current_schema() || '_outbox', '') FROM written LIMIT 1) AS notified
FROM claimed
"""


@dataclass(frozen=True)
class WebhookRecord:
    delivery_id: str  # the signed delivery (see adapters/webhook_verifier.py), the dedupe key
    body_sha256: str
    issued_at: datetime  # the JWT's iat: the row is kept while a replay could still verify
    webhook_type: str
    webhook_code: str
    item_id: str | None
    topic: str
    key: str
    event: Envelope


class WebhookWriter:
    def __init__(self, pool: asyncpg.Pool, *, max_batch: int = 500) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._queue: list[tuple[WebhookRecord, asyncio.Future[bool]]] = []
        self._flushing = False

    async def record(self, webhook: WebhookRecord) -> bool:
        """Record `webhook` and its outbox row; False when this delivery was already recorded (a replay)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((webhook, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush_all())
        return await future

    async def _flush_all(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                await self._flush(batch)
        finally:
            self._flushing = False

    async def _flush(self, batch: list[tuple[WebhookRecord, asyncio.Future[bool]]]) -> None:
        first: dict[str, WebhookRecord] = {}
        for webhook, _ in batch:
            first.setdefault(webhook.delivery_id, webhook)
        try:
            result = await self._pool.fetchrow(RECORD, *record_arguments(list(first.values())))
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, Exception):
                return
            raise
        fresh = set(result["fresh"]) if result else set()
        for webhook, future in batch:
            if not future.done():
                # only the first of a delivery seen twice in this batch is the fresh one
                future.set_result(webhook.delivery_id in fresh and first[webhook.delivery_id] is webhook)


def record_arguments(rows: Sequence[WebhookRecord]) -> list[list[Any]]:
    """RECORD's parameters for `rows` (distinct delivery ids), one array per column."""
    return [
        [r.delivery_id for r in rows],
        [r.body_sha256 for r in rows],
        [r.issued_at for r in rows],
        [r.webhook_type for r in rows],
        [r.webhook_code for r in rows],
        [r.item_id for r in rows],
        [r.event.id for r in rows],
        [r.topic for r in rows],
        [r.key for r in rows],
        [r.event.type for r in rows],
        [r.event.to_json() for r in rows],
    ]
