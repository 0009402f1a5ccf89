"""sync-worker's handlers: one function per incoming event, each run inside the consumer's transaction.

Every trigger (Item linked, removed or repaired; a transactions webhook; an on-demand sync request) only
records what it asks for in `sync_items` (see domain.triggers); the scheduler runs the sync. Unknown event
types and events without an item_id are ignored (tolerant reader).
"""

from collections.abc import Awaitable, Callable

import asyncpg
import structlog
from bankstream_common.envelope import Envelope, refuse_other_version

from ..adapters import repository
from ..domain.triggers import CONSUMED_TYPES, action_for
from ..metrics import Metrics

log = structlog.get_logger(__name__)

Handler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]


def trigger_handler(metrics: Metrics) -> Handler:
    async def handle(conn: asyncpg.Connection, event: Envelope) -> None:
        action = action_for(event.type, event.data)
        if action is None:
            refuse_other_version(event.type, CONSUMED_TYPES)  # a new version of ours: dead-lettered
            metrics.triggers.labels("ignored").inc()
            return
        await repository.apply_trigger(conn, action)
        metrics.triggers.labels(action.effect).inc()
        log.info("sync trigger", item_id=action.item_id, effect=action.effect, trigger=action.trigger)

    return handle
