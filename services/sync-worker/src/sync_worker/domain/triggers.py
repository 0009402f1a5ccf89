"""Which incoming events make an Item want a sync, and how many triggers collapse into one run.

A trigger never runs Plaid calls itself: it marks the Item as wanted (`wanted_at`, the merged trigger kinds,
a `refresh` flag) in the consumer's transaction. However many triggers arrive before the scheduler claims
the Item, they become one run; one arriving while a run is in progress makes exactly one more run follow.

    event type                             data                              effect
    bankstream.item.linked.v1              item_id                           activate + want (item_linked)
    bankstream.item.removed.v1             item_id                           stop for good
    bankstream.item.status_changed.v1      item_id, status=good              resume + want (login_repaired)
                                           (each only when its changed_at is newer than the last applied)
                                           status=login_required, error,
                                                  permission_revoked         pause
                                           status=pending_expiration         nothing (still syncs)
                                           status=removed                    stop for good
    bankstream.plaid.webhook_received.v1   TRANSACTIONS SYNC_UPDATES_AVAILABLE, DEFAULT_UPDATE,
                                           INITIAL_UPDATE, HISTORICAL_UPDATE, TRANSACTIONS_REMOVED
                                                                             want (webhook)
                                           ITEM LOGIN_REPAIRED               resume + want (login_repaired)
                                           ITEM NEW_ACCOUNTS_AVAILABLE       want (new_accounts)
    bankstream.sync.requested.v1           item_id, refresh? (default true)  want (requested) + refresh
                                           from_scratch? (default false)     + after a catch-up run, a
                                                                             loop from the empty cursor
    anything else                                                            ignored (tolerant reader)
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

ITEM_LINKED = "bankstream.item.linked.v1"
ITEM_REMOVED = "bankstream.item.removed.v1"
ITEM_STATUS_CHANGED = "bankstream.item.status_changed.v1"
WEBHOOK_RECEIVED = "bankstream.plaid.webhook_received.v1"
SYNC_REQUESTED = "bankstream.sync.requested.v1"

ITEMS_TOPIC = "bankstream.items"
WEBHOOKS_TOPIC = "bankstream.plaid-webhooks"
SYNC_REQUESTS_TOPIC = "bankstream.sync-requests"
CONSUMED_TOPICS = (ITEMS_TOPIC, WEBHOOKS_TOPIC, SYNC_REQUESTS_TOPIC)
# the types read; another version of one of them is dead-lettered, not ignored (envelope.other_version)
CONSUMED_TYPES = (ITEM_LINKED, ITEM_REMOVED, ITEM_STATUS_CHANGED, WEBHOOK_RECEIVED, SYNC_REQUESTED)

TRANSACTION_WEBHOOKS = frozenset(
    {
        "SYNC_UPDATES_AVAILABLE",
        "DEFAULT_UPDATE",
        "INITIAL_UPDATE",
        "HISTORICAL_UPDATE",
        "TRANSACTIONS_REMOVED",
    }
)
Effect = Literal["link", "want", "resume", "pause", "stop"]

# What each Item status means here: exactly the statuses link-svc publishes, the enum `$defs/ItemStatus` of
# docs/events/bankstream.item.status_changed.v1.schema.json (sync-worker does not import link-svc; the
# contract test tests/test_item_status_contract.py fails when a status exists on one side only).
STATUS_EFFECTS: dict[str, Effect | None] = {
    "good": "resume",
    "pending_expiration": None,  # the login still works until it expires: keep syncing
    "login_required": "pause",
    "permission_revoked": "pause",
    "error": "pause",
    "removed": "stop",
}


@dataclass(frozen=True)
class TriggerAction:
    item_id: str
    effect: Effect  # link: (re)activate from any state; resume: only a paused or active Item
    trigger: str  # the kind recorded in the run history ("" for pause/stop)
    refresh: bool = False
    from_scratch: bool = False
    # an ItemStatusChanged's `changed_at`: the pause or resume applies only when it is newer than the last
    # one applied (None: not a status change, applies as it comes)
    status_changed_at: datetime | None = None


def action_for(event_type: str, data: dict[str, Any]) -> TriggerAction | None:
    """What an incoming event means for its Item's syncing; None when it means nothing to us."""
    item_id = data.get("item_id")
    if not isinstance(item_id, str) or not item_id:
        return None
    if event_type == ITEM_LINKED:
        return TriggerAction(item_id, "link", "item_linked")
    if event_type == ITEM_REMOVED:
        return TriggerAction(item_id, "stop", "")
    if event_type == ITEM_STATUS_CHANGED:
        effect = STATUS_EFFECTS.get(str(data.get("status", "")))
        if effect is None:
            return None
        trigger = "login_repaired" if effect == "resume" else ""
        return TriggerAction(item_id, effect, trigger, status_changed_at=_instant(data.get("changed_at")))
    if event_type == SYNC_REQUESTED:
        # an on-demand sync also asks Plaid to look for new data now, unless told not to
        return TriggerAction(
            item_id,
            "want",
            "requested",
            refresh=data.get("refresh") is not False,
            from_scratch=data.get("from_scratch") is True,
        )
    if event_type == WEBHOOK_RECEIVED:
        return _webhook_action(item_id, str(data.get("webhook_type", "")), str(data.get("webhook_code", "")))
    return None


def _instant(value: Any) -> datetime | None:
    """An aware ISO 8601 time (the schema requires one); None when it is not one."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _webhook_action(item_id: str, webhook_type: str, code: str) -> TriggerAction | None:
    if webhook_type == "TRANSACTIONS" and code in TRANSACTION_WEBHOOKS:
        return TriggerAction(item_id, "want", f"webhook:{code}")
    if webhook_type == "ITEM" and code == "LOGIN_REPAIRED":
        return TriggerAction(item_id, "resume", "login_repaired")
    if webhook_type == "ITEM" and code == "NEW_ACCOUNTS_AVAILABLE":
        return TriggerAction(item_id, "want", "new_accounts")
    return None
