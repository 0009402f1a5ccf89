"""One `/transactions/sync` response page, parsed into our own models (not plaid-python's).

Tolerant of what Plaid adds (unknown fields are ignored, as the SDK does) and strict about what we use
(types, required fields), so a malformed page fails loudly instead of publishing garbage. The nested value
classes reuse the event contract's classes with `extra="ignore"`, so a parsed value drops straight into a
`TransactionChanged` without a second validation. Why not plaid-python's models: see docs/sync-worker.md
(their parsing costs more per page than everything else in the run together).
"""

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from . import events

_TOLERANT = ConfigDict(extra="ignore", frozen=True)


class Location(events.Location):
    model_config = _TOLERANT


class PaymentMeta(events.PaymentMeta):
    model_config = _TOLERANT


class PersonalFinanceCategory(events.PersonalFinanceCategory):
    model_config = _TOLERANT


class Counterparty(events.Counterparty):
    model_config = _TOLERANT


class Balances(events.Balances):
    model_config = _TOLERANT


class Transaction(BaseModel):
    model_config = _TOLERANT

    transaction_id: str
    account_id: str
    pending: bool
    pending_transaction_id: str | None = None
    amount: float
    iso_currency_code: str | None = None
    unofficial_currency_code: str | None = None
    date: dt.date
    authorized_date: dt.date | None = None
    datetime: dt.datetime | None = None
    authorized_datetime: dt.datetime | None = None
    name: str
    merchant_name: str | None = None
    merchant_entity_id: str | None = None
    original_description: str | None = None
    personal_finance_category: PersonalFinanceCategory | None = None
    payment_channel: str | None = None
    transaction_code: str | None = None
    check_number: str | None = None
    location: Location | None = None
    payment_meta: PaymentMeta | None = None
    counterparties: list[Counterparty] | None = None
    website: str | None = None
    logo_url: str | None = None


class RemovedTransaction(BaseModel):
    model_config = _TOLERANT

    transaction_id: str
    account_id: str


class Account(BaseModel):
    model_config = _TOLERANT

    account_id: str
    name: str | None = None
    official_name: str | None = None
    mask: str | None = None
    type: str | None = None
    subtype: str | None = None
    balances: Balances


UpdateStatus = Literal[
    "TRANSACTIONS_UPDATE_STATUS_UNKNOWN", "NOT_READY", "INITIAL_UPDATE_COMPLETE", "HISTORICAL_UPDATE_COMPLETE"
]


class SyncPage(BaseModel):
    model_config = _TOLERANT

    added: list[Transaction]
    modified: list[Transaction]
    removed: list[RemovedTransaction]
    accounts: list[Account] = []
    next_cursor: str
    has_more: bool
    transactions_update_status: str = "TRANSACTIONS_UPDATE_STATUS_UNKNOWN"
    request_id: str | None = None

    @property
    def not_ready(self) -> bool:
        """A brand-new Item with nothing yet: not an error, the data is announced by a webhook later."""
        return self.transactions_update_status == "NOT_READY"

    @property
    def size(self) -> int:
        return len(self.added) + len(self.modified) + len(self.removed)
