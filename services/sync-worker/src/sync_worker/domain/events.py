"""The events sync-worker publishes: their topics, keys, types and payloads (the contract it owns).

    topic                     key          type                                  payload
    bankstream.transactions   account_id   bankstream.transaction.changed.v1     TransactionChanged
    bankstream.accounts       account_id   bankstream.account.updated.v1         AccountUpdated
    bankstream.sync-runs      item_id      bankstream.sync.completed.v1          SyncCompleted
    bankstream.sync-runs      item_id      bankstream.sync.failed.v1             SyncFailed

Keying by account makes one account's changes arrive in order on one partition. Every transaction event
also carries `sync_sequence`, increasing per Item across runs without gaps, so a consumer that merges
partitions can still apply one Item's changes in order (and spot a gap). Amounts keep Plaid's sign:
**positive = money out of the account** (a purchase), negative = money in (a refund, a salary).

The payload models are strict (`extra="forbid"`); JSON Schema generated from them is committed under
`docs/events/` (see `domain.schemas`). A breaking change is a new `.vN` type.
"""

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SOURCE = "bankstream/sync-worker"

TRANSACTIONS_TOPIC = "bankstream.transactions"
ACCOUNTS_TOPIC = "bankstream.accounts"
SYNC_RUNS_TOPIC = "bankstream.sync-runs"

TRANSACTION_CHANGED = "bankstream.transaction.changed.v1"
ACCOUNT_UPDATED = "bankstream.account.updated.v1"
SYNC_COMPLETED = "bankstream.sync.completed.v1"
SYNC_FAILED = "bankstream.sync.failed.v1"


class _Strict(BaseModel):
    # a number must be finite: NaN and Infinity are not JSON, and a consumer refuses the record
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Location(_Strict):
    address: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    lat: float | None = None
    lon: float | None = None
    store_number: str | None = None


class PaymentMeta(_Strict):
    by_order_of: str | None = None
    payee: str | None = None
    payer: str | None = None
    payment_method: str | None = None
    payment_processor: str | None = None
    ppd_id: str | None = None
    reason: str | None = None
    reference_number: str | None = None


class PersonalFinanceCategory(_Strict):
    primary: str
    detailed: str
    confidence_level: str | None = None
    version: str | None = None


class Counterparty(_Strict):
    name: str
    type: str
    entity_id: str | None = None
    website: str | None = None
    logo_url: str | None = None
    confidence_level: str | None = None
    phone_number: str | None = None


class _Ordered(_Strict):
    item_id: str
    sync_sequence: int = Field(
        ge=1, description="Per Item, increasing by one per transaction change, no gaps."
    )
    run_id: str
    position: int = Field(ge=0, description="Position of this change within its run.")


class TransactionChanged(_Ordered):
    """One added, modified or removed transaction, flat. A removed one carries only its ids (rest null).

    Apply it as the newest state of its `transaction_id` (an upsert), in `sync_sequence` order: after a
    pagination restart the same transaction may come again, `added` or `modified`, with a higher
    `sync_sequence`, and a transaction the run added may be `removed` (ADR 0011)."""

    change: Literal["added", "modified", "removed"]
    transaction_id: str
    account_id: str
    pending: bool | None = None
    pending_transaction_id: str | None = Field(
        None,
        description="On a posted transaction: the id of the pending one it replaces (that one arrives as "
        "`removed` in the same or an earlier sync).",
    )
    amount: float | None = Field(
        None, description="Plaid's sign: positive = money out of the account, negative = money in."
    )
    iso_currency_code: str | None = None
    unofficial_currency_code: str | None = None
    date: dt.date | None = Field(None, description="Posting date (the occurrence date while pending).")
    authorized_date: dt.date | None = None
    datetime: dt.datetime | None = None
    authorized_datetime: dt.datetime | None = None
    name: str | None = None
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


class Balances(_Strict):
    available: float | None = None
    current: float | None = None
    limit: float | None = None
    iso_currency_code: str | None = None
    unofficial_currency_code: str | None = None
    last_updated_datetime: dt.datetime | None = None


class AccountUpdated(_Strict):
    item_id: str
    account_id: str
    run_id: str
    name: str | None = None
    official_name: str | None = None
    mask: str | None = None
    type: str | None = None
    subtype: str | None = None
    balances: Balances
    as_of: dt.datetime = Field(
        description="When these balances were true: Plaid's last_updated_datetime, else when Plaid sent them."
    )


class _RunReport(_Strict):
    item_id: str
    run_id: str
    trigger: str = Field(description="The trigger that caused the run (the first of `triggers`).")
    triggers: list[str] = Field(description="Every trigger collapsed into this run.")
    pages: int = Field(ge=0, description="Pages committed by the run, every pass of its loop included.")
    restarts: int = Field(
        ge=0, description="Pagination restarts after TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION."
    )
    added: int = Field(ge=0, description="Events published by the run, repeats after restarts included.")
    modified: int = Field(ge=0)
    removed: int = Field(ge=0)
    duration_ms: int = Field(ge=0)
    started_at: dt.datetime
    finished_at: dt.datetime


class SyncCompleted(_RunReport):
    transactions_update_status: str | None = None
    last_sync_sequence: int = Field(ge=0)


class SyncFailed(_RunReport):
    error_code: str
    error_type: str
    retryable: bool
    needs_attention: bool = Field(
        description="True when the user must repair the Item (link-svc acts on it)."
    )
    attempt: int = Field(ge=1, description="Consecutive failed runs of this Item, this one included.")
