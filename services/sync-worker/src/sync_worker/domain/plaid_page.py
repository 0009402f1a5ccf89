"""One `/transactions/sync` response page, validated once at the boundary into plain JSON-ready dicts.

The page is validated by a pydantic TypeAdapter over TypedDicts (types, required fields, valid dates;
unknown fields dropped, as the SDK tolerates them) straight from the bytes (pydantic-core's JSON parser),
so a transaction goes from Plaid's bytes to our event's `data` as one plain dict, without a model object
per transaction. That costs ~10 ms per 500-transaction page; plaid-python's own models cost ~4 s for the
same page (see docs/sync-worker.md). The transaction dicts carry exactly the `TransactionChanged` fields
(`TRANSACTION_FIELDS`), missing optional ones as null; a test holds them to the strict event model.
"""

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, NotRequired

from bankstream_common.json_limits import holds_nul
from pydantic import BaseModel, ConfigDict, TypeAdapter, with_config
from typing_extensions import TypedDict

from . import events


class _Location(TypedDict):
    address: NotRequired[str | None]
    city: NotRequired[str | None]
    region: NotRequired[str | None]
    postal_code: NotRequired[str | None]
    country: NotRequired[str | None]
    lat: NotRequired[float | None]
    lon: NotRequired[float | None]
    store_number: NotRequired[str | None]


class _PaymentMeta(TypedDict):
    by_order_of: NotRequired[str | None]
    payee: NotRequired[str | None]
    payer: NotRequired[str | None]
    payment_method: NotRequired[str | None]
    payment_processor: NotRequired[str | None]
    ppd_id: NotRequired[str | None]
    reason: NotRequired[str | None]
    reference_number: NotRequired[str | None]


class _Category(TypedDict):
    primary: str
    detailed: str
    confidence_level: NotRequired[str | None]
    version: NotRequired[str | None]


class _Counterparty(TypedDict):
    name: str
    type: str
    entity_id: NotRequired[str | None]
    website: NotRequired[str | None]
    logo_url: NotRequired[str | None]
    confidence_level: NotRequired[str | None]
    phone_number: NotRequired[str | None]


class _Transaction(TypedDict):
    transaction_id: str
    account_id: str
    pending: bool
    pending_transaction_id: NotRequired[str | None]
    amount: float
    iso_currency_code: NotRequired[str | None]
    unofficial_currency_code: NotRequired[str | None]
    date: dt.date
    authorized_date: NotRequired[dt.date | None]
    datetime: NotRequired[dt.datetime | None]
    authorized_datetime: NotRequired[dt.datetime | None]
    name: str
    merchant_name: NotRequired[str | None]
    merchant_entity_id: NotRequired[str | None]
    original_description: NotRequired[str | None]
    personal_finance_category: NotRequired[_Category | None]
    payment_channel: NotRequired[str | None]
    transaction_code: NotRequired[str | None]
    check_number: NotRequired[str | None]
    location: NotRequired[_Location | None]
    payment_meta: NotRequired[_PaymentMeta | None]
    counterparties: NotRequired[list[_Counterparty] | None]
    website: NotRequired[str | None]
    logo_url: NotRequired[str | None]


class _Removed(TypedDict):
    transaction_id: str
    account_id: str


@with_config(ConfigDict(allow_inf_nan=False))  # NaN, Infinity, 1e400: refused, in every nested dict
class _Page(TypedDict):
    added: list[_Transaction]
    modified: list[_Transaction]
    removed: list[_Removed]
    accounts: NotRequired[list[dict[str, Any]]]
    next_cursor: str
    has_more: bool
    transactions_update_status: NotRequired[str]


_PAGE = TypeAdapter(_Page)
TRANSACTION_FIELDS = tuple(_Transaction.__annotations__)
_NULLS: dict[str, Any] = dict.fromkeys(TRANSACTION_FIELDS)


def removed_transaction(transaction_id: str, account_id: str) -> dict[str, Any]:
    """What a removed transaction's event carries: its ids, every other field null."""
    return {**_NULLS, "transaction_id": transaction_id, "account_id": account_id}


class Balances(events.Balances):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Account(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    account_id: str
    name: str | None = None
    official_name: str | None = None
    mask: str | None = None
    type: str | None = None
    subtype: str | None = None
    balances: Balances


Transaction = dict[str, Any]  # exactly TRANSACTION_FIELDS; dates as date objects (serialised ISO 8601)


@dataclass(frozen=True)
class RemovedTransaction:
    transaction_id: str
    account_id: str


@dataclass(frozen=True)
class SyncPage:
    added: list[Transaction]
    modified: list[Transaction]
    removed: list[RemovedTransaction]
    accounts: list[Account]
    next_cursor: str
    has_more: bool
    transactions_update_status: str

    @property
    def not_ready(self) -> bool:
        """A brand-new Item with nothing yet: not an error, the data is announced by a webhook later."""
        return self.transactions_update_status == "NOT_READY"

    @property
    def size(self) -> int:
        return len(self.added) + len(self.modified) + len(self.removed)


_CURSOR = re.compile(rb'"next_cursor"\s*:\s*"([^"\\]*)"')
_HAS_MORE = re.compile(rb'"has_more"\s*:\s*(true|false)')


def peek_cursor(raw: bytes) -> tuple[str, bool] | None:
    """(next_cursor, has_more) read from the raw body without parsing it, so the next page can be asked
    for while this one is parsed. Only a hint: the caller checks it against the parsed page."""
    # Plaid (and the emulator) put these two after the transaction lists: search from the last mention
    start = max(0, min(raw.rfind(b'"next_cursor"'), raw.rfind(b'"has_more"')))
    cursor, more = _CURSOR.search(raw, start), _HAS_MORE.search(raw, start)
    if cursor is None or more is None:
        return None
    return cursor.group(1).decode(), more.group(1) == b"true"


def count_changes(raw: bytes) -> int:
    """How many added + modified + removed entries the raw body holds, without parsing it: each carries
    exactly one `"transaction_id"` key (`"pending_transaction_id"` does not match: its quote is elsewhere).
    Only a hint, checked against the parsed page."""
    return raw.count(b'"transaction_id"')


class UnstorableText(ValueError):
    """A string of the page holds NUL (`\\u0000`): PostgreSQL's text cannot store it, nor subscribers'."""


def parse_page(raw: bytes) -> SyncPage:
    """Validate a raw response body; raises pydantic.ValidationError when it breaks the contract, and
    UnstorableText when a string holds NUL (JSON only has it escaped; a raw NUL byte is invalid JSON)."""
    if holds_nul(raw):
        raise UnstorableText("a string holds NUL (\\u0000), which PostgreSQL cannot store")
    page = _PAGE.validate_json(raw, strict=True)
    return SyncPage(
        added=[{**_NULLS, **t} for t in page["added"]],
        modified=[{**_NULLS, **t} for t in page["modified"]],
        removed=[RemovedTransaction(r["transaction_id"], r["account_id"]) for r in page["removed"]],
        accounts=[Account.model_validate(a) for a in page.get("accounts", [])],
        next_cursor=page["next_cursor"],
        has_more=page["has_more"],
        transactions_update_status=page.get(
            "transactions_update_status", "TRANSACTIONS_UPDATE_STATUS_UNKNOWN"
        ),
    )
