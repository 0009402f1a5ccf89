"""The webhook bodies the emulator sends, shaped as the spec's *Webhook schemas."""

from __future__ import annotations

from typing import Any

ENV = "sandbox"


def sync_updates_available(item_id: str, initial: bool, historical: bool) -> dict[str, Any]:
    return {
        "webhook_type": "TRANSACTIONS",
        "webhook_code": "SYNC_UPDATES_AVAILABLE",
        "item_id": item_id,
        "initial_update_complete": initial,
        "historical_update_complete": historical,
        "environment": ENV,
    }


def transactions_update(item_id: str, code: str, new_transactions: int) -> dict[str, Any]:
    """INITIAL_UPDATE, HISTORICAL_UPDATE or DEFAULT_UPDATE (the legacy webhooks)."""
    return {
        "webhook_type": "TRANSACTIONS",
        "webhook_code": code,
        "item_id": item_id,
        "error": None,
        "new_transactions": new_transactions,
        "environment": ENV,
    }


def transactions_removed(item_id: str, removed: list[str]) -> dict[str, Any]:
    return {
        "webhook_type": "TRANSACTIONS",
        "webhook_code": "TRANSACTIONS_REMOVED",
        "item_id": item_id,
        "error": None,
        "removed_transactions": removed,
        "environment": ENV,
    }


def item_event(item_id: str, code: str, error: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """ITEM webhooks: ERROR, LOGIN_REPAIRED, PENDING_EXPIRATION, USER_PERMISSION_REVOKED, ..."""
    body: dict[str, Any] = {"webhook_type": "ITEM", "webhook_code": code, "item_id": item_id}
    if code in (
        "ERROR",
        "USER_PERMISSION_REVOKED",
        "USER_ACCOUNT_REVOKED",
        "NEW_ACCOUNTS_AVAILABLE",
        "WEBHOOK_UPDATE_ACKNOWLEDGED",
        "PENDING_DISCONNECT",
    ):
        body["error"] = error
    body.update(extra)
    body["environment"] = ENV
    return body
