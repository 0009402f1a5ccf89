"""An Item's size and life, set by the control API or by the Link stand-in when the Item is created.

`{"transactions": n, "currency": "USD", "days_requested": d, "ready": true}`: how many transactions its
history holds, in which currency, over how many days, and whether to skip the not-ready delays. The shape
is fixed once its data starts being generated (about `not_ready_delay` after creation), so the Link
stand-in applies it in the same call that creates the Item: what a tester does with Plaid's sandbox by
picking the sandbox user that holds the data they need.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .items import Item
    from .state import Emulator

KEYS = frozenset({"transactions", "currency", "days_requested", "ready"})
DATA_KEYS = frozenset({"transactions", "currency", "days_requested"})


class ItemConfigError(ValueError):
    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict  # the data already exists (409), rather than a bad value (400)


@dataclass(frozen=True)
class ItemConfig:
    transactions: int | None = None
    currency: str | None = None
    days_requested: int | None = None
    ready: bool = False

    @classmethod
    def parse(cls, body: dict[str, Any], *, only_known: bool = False) -> ItemConfig:
        """The config in `body` (other keys ignored, or refused with `only_known`); a bad value raises."""
        if only_known and not body.keys() <= KEYS:
            raise ItemConfigError(f"unknown item config keys: {', '.join(sorted(body.keys() - KEYS))}")
        transactions = _int(body, "transactions", 1, 2_000_000)
        days = _int(body, "days_requested", 1, 730)
        currency = body.get("currency")
        if currency is not None and not (
            isinstance(currency, str) and len(currency) == 3 and currency.isalpha()
        ):
            raise ItemConfigError("currency must be a three-letter ISO 4217 code")
        return cls(transactions, currency.upper() if currency else None, days, bool(body.get("ready")))

    @property
    def shapes_data(self) -> bool:
        return self.transactions is not None or self.currency is not None or self.days_requested is not None

    def apply(self, emu: Emulator, item: Item) -> None:
        if self.shapes_data and item.data_started:
            raise ItemConfigError("the Item's transactions are already initialised", conflict=True)
        if self.transactions is not None:
            item.volume = self.transactions
        if self.currency is not None:
            item.currency = self.currency
            for account in item.accounts:
                account.currency = self.currency
        if self.days_requested is not None:
            item.days_requested = self.days_requested
        if self.ready:
            emu.life.start_transactions(item)
            assert item.pulling_since is not None
            item.pulling_since -= timedelta(seconds=emu.config.not_ready_delay + emu.config.historical_delay)
            emu.life.housekeep(item, wait=True)  # answers once the data exists


def _int(body: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ItemConfigError(f"{key} must be an integer between {low:,} and {high:,}")
    try:
        number = int(value)
    except ValueError:
        raise ItemConfigError(f"{key} must be an integer between {low:,} and {high:,}") from None
    if not low <= number <= high:
        raise ItemConfigError(f"{key} must be between {low:,} and {high:,}")
    return number
