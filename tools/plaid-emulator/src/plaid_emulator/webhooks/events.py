"""The webhook bodies the emulator sends, shaped as the spec's *Webhook schemas.

`SCHEMAS` names every (webhook_type, webhook_code) the emulator can send and the spec schema its body
follows; a body is only ever built through `_webhook`, which refuses any other pair, so a test that
triggers every pair in `SCHEMAS` and validates each body covers all of them.
"""

from __future__ import annotations

from typing import Any

ENV = "sandbox"

SCHEMAS: dict[tuple[str, str], str] = {
    ("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE"): "SyncUpdatesAvailableWebhook",
    ("TRANSACTIONS", "INITIAL_UPDATE"): "InitialUpdateWebhook",
    ("TRANSACTIONS", "HISTORICAL_UPDATE"): "HistoricalUpdateWebhook",
    ("TRANSACTIONS", "DEFAULT_UPDATE"): "DefaultUpdateWebhook",
    ("TRANSACTIONS", "TRANSACTIONS_REMOVED"): "TransactionsRemovedWebhook",
    ("TRANSACTIONS", "RECURRING_TRANSACTIONS_UPDATE"): "RecurringTransactionsUpdateWebhook",
    ("ITEM", "ERROR"): "ItemErrorWebhook",
    ("ITEM", "LOGIN_REPAIRED"): "ItemLoginRepairedWebhook",
    ("ITEM", "PENDING_EXPIRATION"): "PendingExpirationWebhook",
    ("ITEM", "PENDING_DISCONNECT"): "PendingDisconnectWebhook",
    ("ITEM", "USER_PERMISSION_REVOKED"): "UserPermissionRevokedWebhook",
    ("ITEM", "USER_ACCOUNT_REVOKED"): "UserAccountRevokedWebhook",
    ("ITEM", "NEW_ACCOUNTS_AVAILABLE"): "NewAccountsAvailableWebhook",
    ("ITEM", "WEBHOOK_UPDATE_ACKNOWLEDGED"): "WebhookUpdateAcknowledgedWebhook",
    ("ASSETS", "PRODUCT_READY"): "AssetsProductReadyWebhook",
    ("ASSETS", "ERROR"): "AssetsErrorWebhook",
}


def _webhook(webhook_type: str, webhook_code: str, **fields: Any) -> dict[str, Any]:
    if (webhook_type, webhook_code) not in SCHEMAS:
        raise ValueError(f"the emulator sends no {webhook_type} {webhook_code} webhook")
    return {"webhook_type": webhook_type, "webhook_code": webhook_code, **fields, "environment": ENV}


def sync_updates_available(item_id: str, initial: bool, historical: bool) -> dict[str, Any]:
    return _webhook(
        "TRANSACTIONS",
        "SYNC_UPDATES_AVAILABLE",
        item_id=item_id,
        initial_update_complete=initial,
        historical_update_complete=historical,
    )


def transactions_update(item_id: str, code: str, new_transactions: int) -> dict[str, Any]:
    """INITIAL_UPDATE, HISTORICAL_UPDATE or DEFAULT_UPDATE (the legacy webhooks)."""
    return _webhook("TRANSACTIONS", code, item_id=item_id, error=None, new_transactions=new_transactions)


def transactions_removed(item_id: str, removed: list[str]) -> dict[str, Any]:
    return _webhook(
        "TRANSACTIONS", "TRANSACTIONS_REMOVED", item_id=item_id, error=None, removed_transactions=removed
    )


def recurring_transactions_update(item_id: str, account_ids: list[str]) -> dict[str, Any]:
    return _webhook("TRANSACTIONS", "RECURRING_TRANSACTIONS_UPDATE", item_id=item_id, account_ids=account_ids)


def item_event(item_id: str, code: str, **fields: Any) -> dict[str, Any]:
    """ITEM webhooks, with the fields their schema has: ERROR and USER_PERMISSION_REVOKED `error`,
    PENDING_EXPIRATION `consent_expiration_time`, PENDING_DISCONNECT `reason` and `disconnect_time`,
    USER_ACCOUNT_REVOKED `account_id`, WEBHOOK_UPDATE_ACKNOWLEDGED `new_webhook_url` (and `error`)."""
    return _webhook("ITEM", code, item_id=item_id, **fields)


def assets_event(code: str, asset_report_id: str, **fields: Any) -> dict[str, Any]:
    """ASSETS PRODUCT_READY, or ERROR with `error` (an ASSET_REPORT_ERROR): no item_id in either."""
    return _webhook("ASSETS", code, asset_report_id=asset_report_id, **fields)
