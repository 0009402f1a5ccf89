"""The events ledger-api publishes. It owns CategoryOverridden; SyncRequested is the sync-worker's
existing request type (link-svc's schema), which ledger-api publishes too, with its own `source`.

    topic bankstream.category-overrides   key user_id   bankstream.category.overridden.v1
    topic bankstream.sync-requests        key item_id   bankstream.sync.requested.v1

Both are written to the outbox in the transaction of the change that causes them. Payloads are strict
(`extra="forbid"`); docs/events holds their JSON Schemas and tests keep them in step.
"""

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SOURCE = "bankstream/ledger-api"

TOPIC_CATEGORY_OVERRIDES = "bankstream.category-overrides"
TOPIC_SYNC_REQUESTS = "bankstream.sync-requests"

CATEGORY_OVERRIDDEN = "bankstream.category.overridden.v1"
SYNC_REQUESTED = "bankstream.sync.requested.v1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OverriddenCategory(_Strict):
    primary: str = Field(description="PFC v2 primary, e.g. FOOD_AND_DRINK")
    detailed: str = Field(description="PFC v2 detailed, e.g. FOOD_AND_DRINK_COFFEE")


class PreviousCategory(_Strict):
    primary: str
    detailed: str
    source: str = Field(description='"user" for an earlier override, else the categorizer\'s source')


class CategoryOverridden(_Strict):
    """A user set (or cleared, `category` null) the category of one of their transactions, through
    PATCH /v1/transactions/{id}. `previous` is what the ledger showed before the edit."""

    user_id: str
    transaction_id: str
    account_id: str
    item_id: str
    category: OverriddenCategory | None = Field(description="null: the user cleared their override")
    previous: PreviousCategory | None
    merchant_name: str | None = Field(description="Plaid's merchant_name of the transaction")
    name: str | None = Field(description="the transaction's description (Plaid `name`)")
    original_description: str | None
    amount: float | None = Field(description="Plaid's sign: positive = money out")
    iso_currency_code: str | None
    overridden_at: AwareDatetime = Field(
        description="when the ledger recorded the edit, by its database's clock, and strictly later than the "
        "transaction's previous edit: a consumer orders one transaction's overrides by it"
    )


class SyncRequested(_Strict):
    """Someone asked, through the API, for the Item to be synced now (the same contract link-svc
    publishes; see docs/events/bankstream.sync.requested.v1.schema.json)."""

    user_id: str
    item_id: str
    requested_by: str
    refresh: bool = Field(
        default=False, description="ask Plaid to look for new data first (/transactions/refresh)"
    )
    from_scratch: bool = Field(
        default=False,
        description="forget the Item's cursor: page /transactions/sync from the start (the whole history "
        "again, as newer versions of the same ids); absent means false",
    )
    requested_at: AwareDatetime
