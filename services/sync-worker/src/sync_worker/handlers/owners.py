"""Whose Item is it: every consumed event naming an Item's user records it, for the history API's per-user
isolation (entrypoints/http.py). Runs in the consumer's transaction, before the trigger handler."""

import asyncpg
from bankstream_common.envelope import Envelope

from ..adapters import history
from .triggers import Handler


def with_owners(handler: Handler) -> Handler:
    async def handle(conn: asyncpg.Connection, event: Envelope) -> None:
        item_id, user_id = event.data.get("item_id"), event.data.get("user_id")
        if isinstance(item_id, str) and item_id and isinstance(user_id, str) and user_id:
            await history.record_owner(conn, item_id, user_id)
        await handler(conn, event)

    return handle
