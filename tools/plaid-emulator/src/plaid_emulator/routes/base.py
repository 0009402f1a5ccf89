"""What every Plaid endpoint handler receives, and small request-validation helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..errors import PlaidApiError
from ..items import STATUS_NOT_READY, Item
from ..state import Emulator

Result = dict[str, Any] | bytes


@dataclass
class Call:
    emu: Emulator
    body: dict[str, Any]
    request_id: str
    item: Item | None = None

    def the_item(self) -> Item:
        assert self.item is not None, "route declared without an access_token"
        return self.item

    def usable_item(self) -> Item:
        """The Item, if Plaid could fetch data from its institution right now."""
        item = self.the_item()
        if item.error is not None:
            raise PlaidApiError(item.error.code)
        return item

    def ready_item(self) -> Item:
        item = self.usable_item()
        if item.status == STATUS_NOT_READY or item.ledger is None:
            raise PlaidApiError("PRODUCT_NOT_READY")
        return item


@dataclass(frozen=True)
class Route:
    handler: Callable[[Call], Result]
    required: tuple[str, ...] = ()  # the request schema's required fields (credentials aside)
    needs_item: bool = False  # the handler works on the Item of `access_token`

    def check_required(self, body: dict[str, Any]) -> None:
        """Plaid refuses a request that lacks a required field before it looks anything up."""
        missing = [name for name in self.required if body.get(name) in (None, "", [], {})]
        if missing:
            raise PlaidApiError("MISSING_FIELDS", ", ".join(missing))


def int_field(value: Any, name: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PlaidApiError("INVALID_FIELD", f"{name} must be an integer between {low} and {high}")
    return value


def date_field(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise PlaidApiError("INVALID_FIELD", f"{name} must be a date in the format YYYY-MM-DD") from None


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def options_of(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise PlaidApiError("INVALID_FIELD", "options must be an object")
    return options
