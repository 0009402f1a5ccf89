"""The ledger's public JSON of each entity: ONE function per entity, used for the change feed's `data`
and by the HTTP API, so a cached copy and a read always agree (list pages build the same JSON in SQL:
adapters/read_store.TX_JSON, held to `transaction_view` by a test).

Money is a JSON number in Plaid's sign (positive = money out); dates are `YYYY-MM-DD`, instants UTC with
microseconds. A transaction's `category` is the EFFECTIVE category: the user's edit when there is one
(source "user"), else the categorizer's decision; `categorizer_category` is always the categorizer's, so a
client can show both, and `user` holds the user's edits.
"""

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

USER_SOURCE = "user"


def _iso(value: date | datetime | None) -> str | None:
    """Dates as YYYY-MM-DD; instants in UTC, always with microseconds (as read_store's SQL writes them)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    return value.isoformat()


def _money(value: Decimal | float | None) -> float | None:
    return float(value) if value is not None else None


def _confidence(value: float | None) -> float | None:
    # stored as `real`: 0.87 reads back as 0.8700000047...; four digits are all a confidence carries
    return None if value is None else round(float(value), 4)


def categorizer_category(row: Mapping[str, Any]) -> dict[str, Any] | None:
    if row["category_detailed"] is None:
        return None
    return {
        "primary": row["category_primary"],
        "detailed": row["category_detailed"],
        "source": row["category_source"],
        "confidence": _confidence(row["category_confidence"]),
        "decided_by": row["category_decided_by"],
        "needs_review": row["category_needs_review"],
    }


def effective_category(row: Mapping[str, Any]) -> dict[str, Any] | None:
    if row["user_category_detailed"] is not None:
        return {
            "primary": row["user_category_primary"],
            "detailed": row["user_category_detailed"],
            "source": USER_SOURCE,
            "confidence": 1.0,
            "decided_by": USER_SOURCE,
            "needs_review": False,
        }
    return categorizer_category(row)


def transaction_view(row: Mapping[str, Any]) -> dict[str, Any]:
    user_category = (
        {"primary": row["user_category_primary"], "detailed": row["user_category_detailed"]}
        if row["user_category_detailed"] is not None
        else None
    )
    return {
        "transaction_id": row["transaction_id"],
        "account_id": row["account_id"],
        "item_id": row["item_id"],
        "amount": _money(row["amount"]),
        "iso_currency_code": row["iso_currency_code"],
        "date": _iso(row["date"]),
        "authorized_date": _iso(row["authorized_date"]),
        "datetime": _iso(row["datetime"]),
        "name": row["name"],
        "merchant_name": row["merchant_name"],
        "pending": row["pending"],
        "pending_transaction_id": row["pending_transaction_id"],
        "removed": row["removed"],
        "category": effective_category(row),
        "categorizer_category": categorizer_category(row),
        "user": {
            "notes": row["user_notes"],
            "tags": list(row["user_tags"] or []),
            "hidden": row["user_hidden"],
            "category": user_category,
        },
        "version": row["version"],
        "updated_at": _iso(row["updated_at"]),
    }


def etag(version: int, edit_version: int) -> str:
    """A transaction's ETag: any projected change bumps `version`, any user edit `edit_version`."""
    return f'W/"{version}.{edit_version}"'


def etag_matches(header: str | None, current: str) -> bool:
    """If-Match / If-None-Match: `*`, or a comma-separated list compared weakly (W/ ignored)."""
    if header is None:
        return False
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in wanted or current.removeprefix("W/") in wanted


def account_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "account_id": row["account_id"],
        "item_id": row["item_id"],
        "name": row["name"],
        "official_name": row["official_name"],
        "mask": row["mask"],
        "type": row["type"],
        "subtype": row["subtype"],
        "balances": {
            "available": _money(row["balance_available"]),
            "current": _money(row["balance_current"]),
            "limit": _money(row["balance_limit"]),
            "iso_currency_code": row["iso_currency_code"],
            "unofficial_currency_code": row["unofficial_currency_code"],
            "as_of": _iso(row["balance_as_of"]),
        },
        "updated_at": _iso(row["updated_at"]),
    }


def item_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "item_id": row["item_id"],
        "institution_id": row["institution_id"],
        "institution_name": row["institution_name"],
        "status": row["status"],
        "needs_repair": row["needs_repair"],
        "status_code": row["status_code"],
        "status_changed_at": _iso(row["status_changed_at"]),
        "removed": row["removed_at"] is not None,
        "removed_at": _iso(row["removed_at"]),
        "linked_at": _iso(row["linked_at"]),
        "last_synced_at": _iso(row["last_synced_at"]),
        "last_sync_failed_at": _iso(row["last_sync_failed_at"]),
        "last_sync_error_code": row["last_sync_error_code"],
        "updated_at": _iso(row["updated_at"]),
    }
