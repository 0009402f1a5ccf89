"""What every handler is given (`Deps`, built by bootstrap) and the steps they share."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog
from bankstream_common import outbox
from bankstream_common.auth import Principal
from bankstream_common.envelope import Envelope
from pydantic import BaseModel

from ..adapters import repository as repo
from ..adapters import vault
from ..adapters.plaid_client import PlaidClient
from ..adapters.webhook_verifier import WebhookVerifier
from ..adapters.webhook_writer import WebhookWriter
from ..config import Settings
from ..domain import events as ev
from ..domain import item_state as sm
from ..domain.access import Scope, check_owner
from ..domain.errors import (
    ItemGone,
    ItemNotFound,
)
from ..domain.items import Item
from ..metrics import Metrics

log = structlog.get_logger(__name__)


@dataclass
class Deps:
    settings: Settings
    pool: asyncpg.Pool
    plaid: PlaidClient
    keyring: vault.Keyring
    verifier: WebhookVerifier
    metrics: Metrics
    webhook_writer: WebhookWriter  # group commit of verified webhooks (see bootstrap)
    # exchanges holding a connection (and a lock) while Plaid answers; each may need one more connection
    # (the call's audit), so at most half the pool: the pool cannot run dry with every holder waiting
    exchange_slots: asyncio.Semaphore
    topic_prefix: str = ""

    def topic(self, name: str) -> str:
        return self.topic_prefix + name


def event_for(type_: str, item_id: str, data: BaseModel) -> Envelope:
    return Envelope.new(source=ev.SOURCE, type=type_, subject=item_id, data=data)


async def transition(deps: Deps, conn: asyncpg.Connection, item: Item, trigger: sm.Trigger) -> Item:
    """Apply `trigger` to a locked Item: the row, its history and ItemStatusChanged, in the caller's tx."""
    transition = sm.decide(item.status, trigger)
    if transition is None:
        return item
    await repo.apply_transition(conn, item.item_id, transition)
    changed = ev.ItemStatusChanged(
        user_id=item.user_id,
        item_id=item.item_id,
        status=transition.to_status,
        previous_status=transition.from_status,
        trigger=trigger.kind.value,
        code=trigger.code,
        changed_at=datetime.now(UTC),
    )
    await outbox.enqueue(
        conn,
        topic=deps.topic(ev.TOPIC_ITEMS),
        key=item.item_id,
        event=event_for(ev.ITEM_STATUS_CHANGED, item.item_id, changed),
    )
    deps.metrics.status_changes.labels(transition.to_status.value, trigger.kind.value).inc()
    log.info("item status changed", item_id=item.item_id, to_status=transition.to_status, code=trigger.code)
    return await repo.get_item(conn, item.item_id) or item


async def visible_item(
    deps: Deps, principal: Principal, item_id: str, scope: Scope, on_behalf_of: str | None = None
) -> Item:
    """The Item, if the caller may touch it: a user its own, a service the named user's (`on_behalf_of`)."""
    principal.require(scope)
    item = await repo.get_item(deps.pool, item_id)
    if item is None:
        raise ItemNotFound(item_id)
    check_owner(principal, item_id, item.user_id, on_behalf_of)
    return item


async def access_token_of(deps: Deps, item_id: str) -> str:
    sealed = await vault.load(deps.pool, item_id)
    if sealed is None:
        raise ItemGone(item_id)
    return deps.keyring.open(item_id, sealed)
