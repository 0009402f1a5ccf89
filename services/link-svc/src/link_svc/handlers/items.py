"""Items: list, get, repair (update mode completed), remove, on-demand sync."""

from datetime import UTC, datetime

import structlog
from bankstream_common import outbox
from bankstream_common.auth import Principal
from bankstream_common.envelope import Envelope

from ..adapters import repository as repo
from ..domain import events as ev
from ..domain import item_state as sm
from ..domain.access import Scope
from ..domain.commands import (
    UpdateModeCompleted,
)
from ..domain.errors import (
    ItemGone,
    PlaidRequestFailed,
)
from ..domain.items import Item, StatusChange
from .context import Deps, access_token_of, event_for, transition, visible_item

log = structlog.get_logger(__name__)

# Plaid no longer knows the Item: removing it here is all that is left to do.
GONE_AT_PLAID = frozenset({"ITEM_NOT_FOUND", "INVALID_ACCESS_TOKEN"})


async def list_items(
    deps: Deps, principal: Principal, user: str | None = None, *, include_removed: bool = False
) -> list[Item]:
    """A user's Items: the caller's own, or those of the user a service names; every user's only for
    `admin` or a service holding `users:all` that names nobody."""
    principal.require(Scope.ITEMS_READ)
    return await repo.list_items(deps.pool, principal.users_visible(user), include_removed=include_removed)


async def get_item(
    deps: Deps, principal: Principal, item_id: str, user: str | None = None
) -> tuple[Item, list[StatusChange]]:
    item = await visible_item(deps, principal, item_id, Scope.ITEMS_READ, user)
    return item, await repo.status_history(deps.pool, item_id)


async def update_mode_completed(
    deps: Deps, principal: Principal, item_id: str, cmd: UpdateModeCompleted, user: str | None = None
) -> Item:
    """Update mode's onSuccess: the Item is good again; its accounts are refreshed (new ones picked up)."""
    item = await visible_item(deps, principal, item_id, Scope.LINK_WRITE, user)
    if item.removed:
        raise ItemGone(item_id)
    info = await deps.plaid.get_item(await access_token_of(deps, item_id), item_id)
    async with deps.pool.acquire() as conn, conn.transaction():
        locked = await repo.get_item(conn, item_id, for_update=True)
        if locked is None or locked.removed:
            raise ItemGone(item_id)
        await repo.upsert_accounts(conn, item_id, info.accounts)
        item = await transition(deps, conn, locked, sm.UPDATE_MODE_COMPLETED)
    log.info("update mode completed", item_id=item_id, link_session_id=cmd.link_session_id)
    return await repo.get_item(deps.pool, item_id) or item


async def remove_item(deps: Deps, principal: Principal, item_id: str, user: str | None = None) -> Item:
    item = await visible_item(deps, principal, item_id, Scope.ITEMS_WRITE, user)
    if item.removed:
        return item
    try:
        await deps.plaid.remove_item(await access_token_of(deps, item_id), item_id)
    except PlaidRequestFailed as exc:
        if exc.error_code not in GONE_AT_PLAID:
            raise
    async with deps.pool.acquire() as conn, conn.transaction():
        locked = await repo.get_item(conn, item_id, for_update=True)
        if locked is None or locked.removed:
            return locked or item
        removed = await transition(deps, conn, locked, sm.REMOVAL)
        await conn.execute("DELETE FROM access_tokens WHERE item_id = $1", item_id)
        gone = ev.ItemRemoved(
            user_id=item.user_id,
            item_id=item_id,
            institution_id=item.institution_id,
            removed_at=datetime.now(UTC),
        )
        await outbox.enqueue(
            conn,
            topic=deps.topic(ev.TOPIC_ITEMS),
            key=item_id,
            event=event_for(ev.ITEM_REMOVED, item_id, gone),
        )
    deps.metrics.items_removed.inc()
    return removed


async def request_sync(
    deps: Deps, principal: Principal, item_id: str, user: str | None = None, *, refresh: bool = False
) -> Envelope:
    item = await visible_item(deps, principal, item_id, Scope.ITEMS_WRITE, user)
    if item.removed:
        raise ItemGone(item_id)
    data = ev.SyncRequested(
        user_id=item.user_id,
        item_id=item_id,
        requested_by=principal.subject,
        refresh=refresh,
        requested_at=datetime.now(UTC),
    )
    event = event_for(ev.SYNC_REQUESTED, item_id, data)
    async with deps.pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, topic=deps.topic(ev.TOPIC_SYNC_REQUESTS), key=item_id, event=event)
    deps.metrics.sync_requests.inc()
    return event
