"""The Item lifecycle as an explicit state machine.

    good ──────────────► pending_expiration ──► login_required ──► permission_revoked
      ▲  ▲  ▲                  │    │               │    │               │
      │  │  └── update mode / LOGIN_REPAIRED ───────┘    │               │
      │  └───── update mode ─────────────────────────────┼───────────────┘
      │                                                  ▼
      └──────────────────────────────────────────────  error
    every state except removed ──► removed (terminal)

What moves an Item (a `Trigger`): an ITEM webhook from Plaid, a sync failure the sync-worker reports,
a successful update-mode Link, or removal through the API. `decide` answers with a `Transition` or None
(nothing to do: same state, an unrelated code, or a move the table does not allow, e.g. a late
PENDING_EXPIRATION after the login already broke). Transient failures (institution down, rate limits,
Plaid 5xx) never move an Item: they say nothing about the connection itself.
"""

from dataclasses import dataclass
from enum import StrEnum


class ItemStatus(StrEnum):
    GOOD = "good"
    PENDING_EXPIRATION = "pending_expiration"
    LOGIN_REQUIRED = "login_required"
    PERMISSION_REVOKED = "permission_revoked"
    ERROR = "error"
    REMOVED = "removed"


class TriggerKind(StrEnum):
    WEBHOOK = "webhook"
    SYNC_FAILURE = "sync_failure"
    UPDATE_MODE = "update_mode"
    REMOVAL = "removal"


S = ItemStatus
ALLOWED: dict[ItemStatus, frozenset[ItemStatus]] = {
    S.GOOD: frozenset({S.PENDING_EXPIRATION, S.LOGIN_REQUIRED, S.PERMISSION_REVOKED, S.ERROR, S.REMOVED}),
    S.PENDING_EXPIRATION: frozenset({S.GOOD, S.LOGIN_REQUIRED, S.PERMISSION_REVOKED, S.ERROR, S.REMOVED}),
    S.LOGIN_REQUIRED: frozenset({S.GOOD, S.PERMISSION_REVOKED, S.ERROR, S.REMOVED}),
    S.PERMISSION_REVOKED: frozenset({S.GOOD, S.REMOVED}),
    S.ERROR: frozenset({S.GOOD, S.PENDING_EXPIRATION, S.LOGIN_REQUIRED, S.PERMISSION_REVOKED, S.REMOVED}),
    S.REMOVED: frozenset(),
}

# Plaid error codes that say the connection itself is broken, and where they lead.
ERROR_CODE_STATUS: dict[str, ItemStatus] = {
    "ITEM_LOGIN_REQUIRED": S.LOGIN_REQUIRED,
    "PENDING_EXPIRATION": S.PENDING_EXPIRATION,
    "USER_PERMISSION_REVOKED": S.PERMISSION_REVOKED,
    "ACCESS_NOT_GRANTED": S.PERMISSION_REVOKED,
    "INVALID_ACCESS_TOKEN": S.ERROR,
    "ITEM_NOT_FOUND": S.ERROR,
    "ITEM_LOCKED": S.ERROR,
    "ITEM_NOT_SUPPORTED": S.ERROR,
    "NO_ACCOUNTS": S.ERROR,
    "INVALID_CREDENTIALS": S.LOGIN_REQUIRED,
    "INVALID_MFA": S.LOGIN_REQUIRED,
    "USER_SETUP_REQUIRED": S.LOGIN_REQUIRED,
    "MFA_NOT_SUPPORTED": S.ERROR,
}

# ITEM webhook codes and where they lead (ERROR is decided by its error code, see `webhook_trigger`).
ITEM_WEBHOOK_STATUS: dict[str, ItemStatus] = {
    "PENDING_EXPIRATION": S.PENDING_EXPIRATION,
    "PENDING_DISCONNECT": S.PENDING_EXPIRATION,
    "USER_PERMISSION_REVOKED": S.PERMISSION_REVOKED,
    "LOGIN_REPAIRED": S.GOOD,
}


@dataclass(frozen=True)
class Trigger:
    kind: TriggerKind
    target: ItemStatus
    code: str | None = None  # the webhook code or Plaid error code behind it


@dataclass(frozen=True)
class Transition:
    from_status: ItemStatus
    to_status: ItemStatus
    trigger: Trigger


def webhook_trigger(webhook_type: str, webhook_code: str, error_code: str | None) -> Trigger | None:
    """The trigger an ITEM webhook carries, or None when it says nothing about the Item's health."""
    if webhook_type != "ITEM":
        return None
    if webhook_code == "ERROR":
        if not error_code:
            return None
        target = ERROR_CODE_STATUS.get(error_code)
        return Trigger(TriggerKind.WEBHOOK, target, error_code) if target else None
    target = ITEM_WEBHOOK_STATUS.get(webhook_code)
    return Trigger(TriggerKind.WEBHOOK, target, webhook_code) if target else None


def sync_failure_trigger(error_code: str) -> Trigger | None:
    """The trigger a failed sync carries; None for failures that may pass (institution down, 429, 5xx)."""
    target = ERROR_CODE_STATUS.get(error_code)
    return Trigger(TriggerKind.SYNC_FAILURE, target, error_code) if target else None


UPDATE_MODE_COMPLETED = Trigger(TriggerKind.UPDATE_MODE, S.GOOD, "UPDATE_MODE_SUCCESS")
REMOVAL = Trigger(TriggerKind.REMOVAL, S.REMOVED, None)


def decide(current: ItemStatus, trigger: Trigger) -> Transition | None:
    """The transition `trigger` causes from `current`, or None when the Item stays as it is."""
    if trigger.target == current or trigger.target not in ALLOWED[current]:
        return None
    return Transition(current, trigger.target, trigger)


def needs_repair(status: ItemStatus) -> bool:
    """Statuses a user fixes through update mode."""
    return status in {S.LOGIN_REQUIRED, S.PENDING_EXPIRATION, S.PERMISSION_REVOKED, S.ERROR}
