"""The one JSON shape of a transaction, as every endpoint and every `changes` row shows it.

`category` is the EFFECTIVE category: the user's edit when there is one (source "user"), else the
categorizer's decision; `categorizer_category` is always the categorizer's, so a client can show both.
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


def _money(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def categorizer_category(row: Mapping[str, Any]) -> dict[str, Any] | None:
    if row["category_detailed"] is None:
        return None
    return {
        "primary": row["category_primary"],
        "detailed": row["category_detailed"],
        "source": row["category_source"],
        "confidence": row["category_confidence"],
        "decided_by": row["category_decided_by"],
    }


def effective_category(row: Mapping[str, Any]) -> dict[str, Any] | None:
    if row["user_category_detailed"] is not None:
        return {
            "primary": row["user_category_primary"],
            "detailed": row["user_category_detailed"],
            "source": USER_SOURCE,
            "confidence": 1.0,
            "decided_by": USER_SOURCE,
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
