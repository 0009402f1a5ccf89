"""Group commit for verified webhooks: the ones that arrive together are recorded in ONE statement.

Each webhook still gets its own answer (published, or a duplicate of one already recorded). While one
statement is in flight, newly verified webhooks queue up; when it returns, everything queued goes in the
next one. There is no timer: a lone webhook is written at once; under load, batches grow by themselves
and the per-webhook cost of a round trip (and of taking a connection from the pool) shrinks with them.

The statement claims each body hash in `webhooks` (the dedupe key) and writes the outbox row of every
webhook it claimed, in one transaction, as bankstream_common.outbox.enqueue writes them (same columns,
same NOTIFY channel). A hash that appears twice in one batch is written once; its twin gets the answer of
the first.
"""

import asyncio
from dataclasses import dataclass

import asyncpg
from bankstream_common.envelope import Envelope

RECORD = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::text[],
                         $8::text[], $9::bytea[])
        WITH ORDINALITY AS u(sha, wtype, wcode, item, event_id, topic, key, event_type, payload, n)),
claimed AS (
    INSERT INTO webhooks (body_sha256, webhook_type, webhook_code, item_id)
    SELECT sha, wtype, wcode, item FROM input ORDER BY n
    ON CONFLICT DO NOTHING RETURNING body_sha256),
written AS (
    INSERT INTO outbox (event_id, topic, key, event_type, payload)
    SELECT i.event_id, i.topic, i.key, i.event_type, i.payload
    FROM input i JOIN claimed c ON c.body_sha256 = i.sha ORDER BY i.n
    RETURNING 1)
SELECT coalesce(array_agg(body_sha256), '{}') AS fresh,
       (SELECT pg_notify(current_schema() || '_outbox', '') FROM written LIMIT 1) AS notified
FROM claimed
"""


@dataclass(frozen=True)
class WebhookRecord:
    body_sha256: str
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
        """Record `webhook` and its outbox row; False when this body was already recorded."""
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
            first.setdefault(webhook.body_sha256, webhook)
        rows = list(first.values())
        try:
            result = await self._pool.fetchrow(
                RECORD,
                [r.body_sha256 for r in rows],
                [r.webhook_type for r in rows],
                [r.webhook_code for r in rows],
                [r.item_id for r in rows],
                [r.event.id for r in rows],
                [r.topic for r in rows],
                [r.key for r in rows],
                [r.event.type for r in rows],
                [r.event.to_json() for r in rows],
            )
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
                # only the first of a hash seen twice in this batch is the fresh one
                future.set_result(webhook.body_sha256 in fresh and first[webhook.body_sha256] is webhook)
