"""What comes from outside the API: Plaid webhooks, the sync-worker's failures, vault releases."""

import time
from datetime import UTC, datetime

import asyncpg
import structlog
from bankstream_common.auth import NotAllowed, Principal, PrincipalKind
from bankstream_common.envelope import Envelope, refuse_other_version

from ..adapters import repository as repo
from ..adapters.webhook_writer import WebhookRecord
from ..domain import events as ev
from ..domain import item_state as sm
from ..domain.access import Scope
from ..domain.errors import (
    ItemGone,
    ItemNotFound,
    WebhookRejected,
)
from .context import Deps, access_token_of, event_for, transition

log = structlog.get_logger(__name__)


async def release_access_token(deps: Deps, principal: Principal, item_id: str) -> str:
    """The decrypted token for a service holding `vault:read` (never a user); every release audited."""
    if principal.kind is not PrincipalKind.SERVICE or Scope.VAULT_READ.value not in principal.scopes:
        deps.metrics.vault_releases.labels("refused").inc()
        raise NotAllowed("only a service token with the vault:read scope may obtain an access token")
    item = await repo.get_item(deps.pool, item_id)
    if item is None:
        deps.metrics.vault_releases.labels("not_found").inc()
        raise ItemNotFound(item_id)
    if item.removed:
        deps.metrics.vault_releases.labels("removed").inc()
        raise ItemGone(item_id)
    token = await access_token_of(deps, item_id)
    await repo.record_vault_release(deps.pool, item_id, principal.subject)
    deps.metrics.vault_releases.labels("released").inc()
    log.info("access token released", item_id=item_id, released_to=principal.subject)
    return token


async def receive_webhook(deps: Deps, raw_body: bytes, verification: str | None) -> bool:
    """Verify, then record and publish each delivery once; True when published, False for a replay of a
    delivery already recorded (the same JWT). A new delivery of the same body is published again."""
    started = time.perf_counter()
    try:
        verified = await deps.verifier.verify(raw_body, verification)
        deps.metrics.webhook_verify_duration.observe(time.perf_counter() - started)
    except WebhookRejected as exc:
        deps.metrics.webhooks_rejected.labels(exc.reason).inc()
        log.warning("webhook rejected", reason=exc.reason)
        raise
    body = verified.body
    webhook_type, webhook_code = str(body.get("webhook_type", "")), str(body.get("webhook_code", ""))
    item_id = body.get("item_id") if isinstance(body.get("item_id"), str) else None
    received = ev.WebhookReceived(
        webhook_type=webhook_type,
        webhook_code=webhook_code,
        item_id=item_id,
        environment=body.get("environment") if isinstance(body.get("environment"), str) else None,
        body=ev.scrub_webhook_body(body),
        body_sha256=verified.body_sha256,
        received_at=datetime.now(UTC),
    )
    key = item_id or "no-item"
    event = event_for(ev.WEBHOOK_RECEIVED, key, received)
    error = body.get("error")
    error_code = error.get("error_code") if isinstance(error, dict) else None
    trigger = sm.webhook_trigger(  # tolerant: an error code that is no string is none
        webhook_type, webhook_code, error_code if isinstance(error_code, str) else None
    )
    record = WebhookRecord(
        delivery_id=verified.delivery_id,
        body_sha256=verified.body_sha256,
        issued_at=datetime.fromtimestamp(verified.issued_at, UTC),
        webhook_type=webhook_type,
        webhook_code=webhook_code,
        item_id=item_id,
        topic=deps.topic(ev.TOPIC_PLAID_WEBHOOKS),
        key=key,
        event=event,
    )
    if trigger is None or not item_id:  # the hot path: group commit
        fresh = await deps.webhook_writer.record(record)
    else:  # an ITEM webhook that moves the Item: claim, transition and both events in one transaction
        async with deps.pool.acquire() as conn, conn.transaction():
            fresh = await repo.claim_webhook_and_enqueue(conn, record)
            item = await repo.get_item(conn, item_id, for_update=True) if fresh else None
            if item is not None:
                await transition(deps, conn, item, trigger)
    deps.metrics.webhooks_accepted.labels(
        webhook_type or "unknown", "published" if fresh else "duplicate"
    ).inc()
    return fresh


async def on_sync_failed(deps: Deps, conn: asyncpg.Connection, event: Envelope) -> None:
    """Consumer handler for bankstream.sync-runs: a failed sync may move the Item (tolerant reader)."""
    if event.type != ev.SYNC_FAILED:
        refuse_other_version(event.type, (ev.SYNC_FAILED,))  # SyncFailed v2: dead-lettered, not ignored
        return
    failed = ev.SyncFailed.model_validate(event.data)
    trigger = sm.sync_failure_trigger(failed.error_code)
    if trigger is None:
        return
    item = await repo.get_item(conn, failed.item_id, for_update=True)
    if item is None:
        log.warning("sync failure for an unknown item", item_id=failed.item_id, error_code=failed.error_code)
        return
    await transition(deps, conn, item, trigger)
