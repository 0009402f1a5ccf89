"""The event categorizer publishes (it owns its schema) and the ones it reads.

    topic                                key            type
    published:
    bankstream.categorized-transactions  account_id     bankstream.transaction.categorized.v1
    consumed:
    bankstream.transactions              account_id     bankstream.transaction.changed.v1 (sync-worker)
    bankstream.items                     item_id        bankstream.item.linked.v1 / removed.v1 (link-svc)
    bankstream.category-overrides        user_id        bankstream.category.overridden.v1 (ledger-api)
    bankstream.imported-transactions     account_id     bankstream.transaction.changed.v1 (ledger-api's
                                                        CSV imports: the same contract, the same path)

TransactionCategorized is strict (`extra="forbid"`). CategoryOverridden's contract is its producer's
(ledger-api, docs/events); this service's tests hold its reader to that file. The readers of the other
services' events are tolerant (unknown fields are ignored). The stream's own input, TransactionChanged,
is read by a msgspec Struct in one pass over the record (ADR 0022); the other readers are pydantic's.
"""

import datetime as dt
import operator
from typing import Annotated, Any, Literal

import msgspec
from bankstream_common.envelope import OnePassEnvelope, one_pass
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SOURCE = "bankstream/categorizer"

TOPIC_CATEGORIZED = "bankstream.categorized-transactions"
TOPIC_TRANSACTIONS = "bankstream.transactions"
TOPIC_ITEMS = "bankstream.items"
TOPIC_OVERRIDES = "bankstream.category-overrides"
TOPIC_IMPORTED = "bankstream.imported-transactions"

TRANSACTION_CATEGORIZED = "bankstream.transaction.categorized.v1"
TRANSACTION_CHANGED = "bankstream.transaction.changed.v1"
ITEM_LINKED = "bankstream.item.linked.v1"
ITEM_REMOVED = "bankstream.item.removed.v1"
CATEGORY_OVERRIDDEN = "bankstream.category.overridden.v1"

Source = Literal["user_rule", "learned", "plaid", "model", "fallback"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _TransactionFields(BaseModel):
    """Every field of TransactionChanged's data but change/item_id/sync_sequence/run_id/position."""

    transaction_id: str = Field(min_length=1, max_length=200)
    account_id: str = Field(min_length=1, max_length=200)
    pending: bool | None = None
    pending_transaction_id: str | None = None
    amount: float | None = Field(None, description="Plaid's sign: positive = money out, negative = in.")
    iso_currency_code: str | None = None
    unofficial_currency_code: str | None = None
    date: dt.date | None = None
    authorized_date: dt.date | None = None
    datetime: dt.datetime | None = None
    authorized_datetime: dt.datetime | None = None
    name: str | None = None
    merchant_name: str | None = None
    merchant_entity_id: str | None = None
    original_description: str | None = None
    personal_finance_category: dict[str, Any] | None = Field(
        None, description="Plaid's PFC as sent (primary, detailed, confidence_level, version)."
    )
    payment_channel: str | None = None
    transaction_code: str | None = None
    check_number: str | None = None
    location: dict[str, Any] | None = None
    payment_meta: dict[str, Any] | None = None
    counterparties: list[dict[str, Any]] | None = None
    website: str | None = None
    logo_url: str | None = None


class TransactionState(_TransactionFields):
    """The transaction as the categorizer last received it (see bankstream.transaction.changed.v1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(_Strict):
    primary: str = Field(description="PFC v2 primary, e.g. FOOD_AND_DRINK")
    detailed: str = Field(description="PFC v2 detailed, e.g. FOOD_AND_DRINK_COFFEE")
    source: Source = Field(description="the tier that decided: the first that matched wins")
    confidence: float = Field(ge=0, le=1)
    decided_by: str = Field(
        description='rule id, "learned:<merchant key>", "plaid:<confidence_level>", the model\'s name, '
        'or "fallback"'
    )
    needs_review: bool = Field(description="true for fallback and low-confidence decisions")
    merchant: str | None = Field(None, description="the normalized merchant the decision used")


class TransactionCategorized(_Strict):
    """One transaction's full current state and its category. Exactly one per TransactionChanged (same
    per-account order; a removal passes through as a removal), plus `recategorized` ones when a rule or
    what was learned changes a decision. Consumers keep the highest `version` per transaction."""

    change: Literal["added", "modified", "removed", "recategorized"]
    transaction_id: str
    account_id: str
    item_id: str
    user_id: str | None = Field(description="from ItemLinked; null while the Item is unknown")
    version: int = Field(ge=1, description="per transaction_id, +1 for every event the categorizer emits")
    sync_sequence: int | None = Field(description="the causing TransactionChanged's; null for recategorized")
    caused_by: str = Field(
        description="id of the causing event (TransactionChanged, CategoryOverridden, ItemLinked) or of "
        "the re-categorization job"
    )
    transaction: TransactionState | None = Field(description="null when change is removed")
    category: Category | None = Field(description="null when change is removed")
    decided_at: AwareDatetime


_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class _StateRecord(msgspec.Struct, frozen=True):
    """TransactionState's fields, in its order and with its types, for msgspec: what the stream stores and
    publishes as a transaction's state (test_stream_decode holds the two equal: names, order, types and
    bounds)."""

    transaction_id: _Id
    account_id: _Id
    pending: bool | None = None
    pending_transaction_id: str | None = None
    amount: float | None = None
    iso_currency_code: str | None = None
    unofficial_currency_code: str | None = None
    date: dt.date | None = None
    authorized_date: dt.date | None = None
    datetime: dt.datetime | None = None
    authorized_datetime: dt.datetime | None = None
    name: str | None = None
    merchant_name: str | None = None
    merchant_entity_id: str | None = None
    original_description: str | None = None
    personal_finance_category: dict[str, Any] | None = None
    payment_channel: str | None = None
    transaction_code: str | None = None
    check_number: str | None = None
    location: dict[str, Any] | None = None
    payment_meta: dict[str, Any] | None = None
    counterparties: list[dict[str, Any]] | None = None
    website: str | None = None
    logo_url: str | None = None


_state_values = operator.attrgetter(*_StateRecord.__struct_fields__)
_encode = msgspec.json.Encoder().encode


class TransactionChangedIn(_StateRecord, frozen=True, kw_only=True):
    """What the categorizer reads of the sync-worker's TransactionChanged (tolerant reader, msgspec: ADR
    0022): the transaction's state and the three fields that say what happened to it."""

    change: Literal["added", "modified", "removed"]
    item_id: _Id
    sync_sequence: Annotated[int, msgspec.Meta(ge=1)]

    def state_json(self) -> bytes:
        """The transaction's state as JSON, TransactionState's fields only: what the stream stores and
        publishes, serialized once."""
        return _encode(_StateRecord(*_state_values(self)))


class ChangedEnvelope(OnePassEnvelope):
    """A TransactionChanged envelope read in ONE pass over the record (the consumer runner's decoder,
    handlers.stream.decode): the envelope and its data checked as the JSON is parsed."""

    data: TransactionChangedIn


read_changed = one_pass(ChangedEnvelope, TRANSACTION_CHANGED, TransactionChangedIn)


class ItemLinkedIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: str = Field(min_length=1, max_length=200)
    item_id: str = Field(min_length=1, max_length=200)


class ItemRemovedIn(ItemLinkedIn):
    pass


class CategoryRef(_Strict):
    primary: str
    detailed: str


class PreviousCategory(_Strict):
    primary: str
    detailed: str
    source: str


class CategoryOverridden(_Strict):
    """A user set (or cleared, `category` null) the category of one of their transactions in the ledger.
    The categorizer records it (never overwrites it with a rule or a learned decision) and learns from it."""

    user_id: str = Field(min_length=1, max_length=200)
    transaction_id: str = Field(min_length=1, max_length=200)
    account_id: str
    item_id: str
    category: CategoryRef | None = Field(description="the user's category; null = the override was cleared")
    previous: PreviousCategory | None = Field(description="what the ledger showed before")
    merchant_name: str | None = Field(description="Plaid's merchant_name of the transaction")
    name: str | None = Field(description="the transaction's description (Plaid `name`)")
    original_description: str | None
    amount: float | None = Field(description="Plaid's sign: positive = money out")
    iso_currency_code: str | None
    overridden_at: AwareDatetime


class CategoryOverriddenIn(CategoryOverridden):
    """The consumer's reading of it: tolerant of fields added later."""

    model_config = ConfigDict(extra="ignore", frozen=True)
