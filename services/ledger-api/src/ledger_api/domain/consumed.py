"""The events the ledger projects, as it reads them (tolerant readers: only the fields it needs).

    topic                                key          types read (bankstream.<type>)
    bankstream.items                     item_id      item.linked.v1, item.status_changed.v1, item.removed.v1
    bankstream.accounts                  account_id   account.updated.v1
    bankstream.sync-runs                 item_id      sync.completed.v1, sync.failed.v1
    bankstream.categorized-transactions  account_id   transaction.categorized.v1

The producers own these contracts (link-svc, sync-worker, categorizer; docs/events/). A reader ignores
fields it does not use and event types it does not know; data that breaks a field it does use is a
msgspec ValidationError, which the consumer runner dead-letters. The readers are msgspec Structs
(ADR 0022): a TransactionCategorized record is checked while it is parsed (`decode`'s one pass), five
times faster than pydantic validated the same bytes; the others are converted from the envelope's data.
"""

import datetime as dt
from typing import Annotated, Literal

import msgspec
from bankstream_common.envelope import OnePassEnvelope, one_pass

TOPIC_ITEMS = "bankstream.items"
TOPIC_ACCOUNTS = "bankstream.accounts"
TOPIC_SYNC_RUNS = "bankstream.sync-runs"
TOPIC_CATEGORIZED = "bankstream.categorized-transactions"
CONSUMED_TOPICS = (TOPIC_ITEMS, TOPIC_ACCOUNTS, TOPIC_SYNC_RUNS, TOPIC_CATEGORIZED)

ITEM_LINKED = "bankstream.item.linked.v1"
ITEM_STATUS_CHANGED = "bankstream.item.status_changed.v1"
ITEM_REMOVED = "bankstream.item.removed.v1"
ACCOUNT_UPDATED = "bankstream.account.updated.v1"
SYNC_COMPLETED = "bankstream.sync.completed.v1"
SYNC_FAILED = "bankstream.sync.failed.v1"
TRANSACTION_CATEGORIZED = "bankstream.transaction.categorized.v1"


class _Reader(msgspec.Struct, frozen=True, kw_only=True):
    """A tolerant reader: fields it does not know are ignored. Each reader repeats `frozen=True,
    kw_only=True` (inherited at run time, but mypy reads each class's own)."""


Aware = Annotated[dt.datetime, msgspec.Meta(tz=True)]


def _utc(value: dt.datetime) -> dt.datetime:
    """A timestamp without an offset is read as UTC (the producers write UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class LinkedAccount(_Reader, frozen=True, kw_only=True):
    account_id: str
    name: str | None = None
    official_name: str | None = None
    mask: str | None = None
    type: str | None = None
    subtype: str | None = None


class ItemLinked(_Reader, frozen=True, kw_only=True):
    user_id: str
    item_id: str
    institution_id: str | None = None
    institution_name: str | None = None
    status: str
    accounts: list[LinkedAccount] = msgspec.field(default_factory=list)
    linked_at: Aware


class ItemStatusChanged(_Reader, frozen=True, kw_only=True):
    user_id: str | None = None
    item_id: str
    status: str
    code: str | None = None
    changed_at: Aware


class ItemRemoved(_Reader, frozen=True, kw_only=True):
    user_id: str | None = None
    item_id: str
    removed_at: Aware


class Balances(_Reader, frozen=True, kw_only=True):
    available: float | None = None
    current: float | None = None
    limit: float | None = None
    iso_currency_code: str | None = None
    unofficial_currency_code: str | None = None


class AccountUpdated(_Reader, frozen=True, kw_only=True):
    item_id: str
    account_id: str
    name: str | None = None
    official_name: str | None = None
    mask: str | None = None
    type: str | None = None
    subtype: str | None = None
    balances: Balances
    as_of: dt.datetime

    @property
    def as_of_utc(self) -> dt.datetime:
        return _utc(self.as_of)


class SyncCompleted(_Reader, frozen=True, kw_only=True):
    item_id: str
    finished_at: dt.datetime

    @property
    def finished_utc(self) -> dt.datetime:
        return _utc(self.finished_at)


class SyncFailed(SyncCompleted, frozen=True, kw_only=True):
    error_code: str


class CategoryDecision(_Reader, frozen=True, kw_only=True):
    primary: str
    detailed: str
    source: str
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)]
    decided_by: str
    needs_review: bool = False


class PlaidCategory(_Reader, frozen=True, kw_only=True):
    primary: str | None = None
    detailed: str | None = None


class CategorizedState(_Reader, frozen=True, kw_only=True):
    """The transaction's full current state; what has no column is kept whole in `details`."""

    transaction_id: str
    account_id: str
    pending: bool | None = None
    pending_transaction_id: str | None = None
    amount: float | None = None
    iso_currency_code: str | None = None
    unofficial_currency_code: str | None = None
    date: dt.date | None = None
    authorized_date: dt.date | None = None
    datetime: dt.datetime | None = None
    name: str | None = None
    merchant_name: str | None = None
    original_description: str | None = None
    payment_channel: str | None = None
    personal_finance_category: PlaidCategory | None = None


# The fields of `transaction` that have their own column (or are ids): everything else goes to `details`.
COLUMN_FIELDS = frozenset(CategorizedState.__struct_fields__)


class TransactionCategorized(_Reader, frozen=True, kw_only=True):
    change: Literal["added", "modified", "removed", "recategorized"]
    transaction_id: str
    account_id: str
    item_id: str
    user_id: str | None = None
    version: Annotated[int, msgspec.Meta(ge=1)]
    transaction: CategorizedState | None = None
    category: CategoryDecision | None = None
    decided_at: Aware

    def __post_init__(self) -> None:
        """What no field says alone (msgspec raises these as its ValidationError)."""
        if self.change == "removed":
            if self.transaction is not None or self.category is not None:
                raise ValueError("a removal carries neither transaction nor category")
            return
        if self.transaction is None or self.category is None:
            raise ValueError(f"a {self.change!r} event needs both transaction and category")
        if self.transaction.transaction_id != self.transaction_id:
            raise ValueError("transaction.transaction_id differs from transaction_id")
        if self.transaction.account_id != self.account_id:
            raise ValueError("transaction.account_id differs from account_id")

    @property
    def removed(self) -> bool:
        return self.change == "removed"


class CategorizedEnvelope(OnePassEnvelope):
    """A TransactionCategorized envelope read in ONE pass over the record (handlers.projections.decode):
    the envelope and its data checked against the reader above as the JSON is parsed, and the record's
    bytes kept (`raw`), from which PostgreSQL takes the fields apart; nothing is decoded twice."""

    data: TransactionCategorized


read_categorized = one_pass(CategorizedEnvelope, TRANSACTION_CATEGORIZED, TransactionCategorized)


READERS: dict[str, type[_Reader]] = {  # msgspec.convert(event.data, READERS[event.type])
    ITEM_LINKED: ItemLinked,
    ITEM_STATUS_CHANGED: ItemStatusChanged,
    ITEM_REMOVED: ItemRemoved,
    ACCOUNT_UPDATED: AccountUpdated,
    SYNC_COMPLETED: SyncCompleted,
    SYNC_FAILED: SyncFailed,
    TRANSACTION_CATEGORIZED: TransactionCategorized,
}
