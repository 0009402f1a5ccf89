"""The events link-svc publishes (it owns their schemas) and the one it reads from the sync-worker.

    topic bankstream.items            key item_id   bankstream.item.linked.v1 / removed.v1 / status_changed.v1
    topic bankstream.plaid-webhooks   key item_id   bankstream.plaid.webhook_received.v1
    topic bankstream.sync-requests    key item_id   bankstream.sync.requested.v1
    consumed: bankstream.sync-runs    key item_id   bankstream.sync.failed.v1 (tolerant reader)

Published payloads are strict (`extra="forbid"`); their JSON Schemas live in docs/events/ and a test
keeps them in step. No payload ever carries an access token, public token or any credential.
"""

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .item_state import ItemStatus

SOURCE = "bankstream/link-svc"

TOPIC_ITEMS = "bankstream.items"
TOPIC_PLAID_WEBHOOKS = "bankstream.plaid-webhooks"
TOPIC_SYNC_REQUESTS = "bankstream.sync-requests"
TOPIC_SYNC_RUNS = "bankstream.sync-runs"

ITEM_LINKED = "bankstream.item.linked.v1"
ITEM_REMOVED = "bankstream.item.removed.v1"
ITEM_STATUS_CHANGED = "bankstream.item.status_changed.v1"
WEBHOOK_RECEIVED = "bankstream.plaid.webhook_received.v1"
SYNC_REQUESTED = "bankstream.sync.requested.v1"
SYNC_FAILED = "bankstream.sync.failed.v1"

# Webhook body fields that can hold a credential; they never leave link-svc.
SECRET_WEBHOOK_FIELDS = frozenset({"public_token", "public_tokens", "access_token", "link_token", "secret"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Account(_Strict):
    account_id: str
    name: str
    official_name: str | None = None
    mask: str | None = None
    type: str
    subtype: str | None = None


class ItemLinked(_Strict):
    """A user linked a bank connection (an Item): its institution and accounts. Never a token."""

    user_id: str
    item_id: str
    institution_id: str | None
    institution_name: str | None
    status: ItemStatus
    products: list[str] = Field(default_factory=list)
    accounts: list[Account]
    linked_at: AwareDatetime


class ItemRemoved(_Strict):
    """The Item was removed (at Plaid too): stop syncing it for good."""

    user_id: str
    item_id: str
    institution_id: str | None
    removed_at: AwareDatetime


class ItemStatusChanged(_Strict):
    """The Item moved in its lifecycle; `trigger` and `code` say why. `status` and `previous_status` are
    always one of ItemStatus (a consumer pausing or resuming on them reads this enum from the schema)."""

    user_id: str
    item_id: str
    status: ItemStatus = Field(description="the status the Item is in now")
    previous_status: ItemStatus = Field(description="the status the Item was in before")
    trigger: str = Field(description="webhook | sync_failure | update_mode | removal")
    code: str | None = Field(None, description="the webhook code or Plaid error code behind the change")
    changed_at: AwareDatetime


class WebhookReceived(_Strict):
    """A Plaid webhook whose signature verified, published once per delivery: a replay of the same signed
    delivery (the same JWT) is absorbed; a new delivery of the same body is published again."""

    webhook_type: str
    webhook_code: str
    item_id: str | None
    environment: str | None = None
    body: dict[str, Any] = Field(description="the verified webhook body, minus any credential field")
    body_sha256: str
    received_at: AwareDatetime


class SyncRequested(_Strict):
    """Someone (a user through the API, an operator with `bankstream items resync`) asked for a sync now."""

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


class SyncFailed(BaseModel):
    """What link-svc reads of the sync-worker's event: only what drives the state machine."""

    model_config = ConfigDict(extra="ignore")

    item_id: str
    error_code: str
    error_type: str | None = None


PUBLISHED: dict[str, type[_Strict]] = {
    ITEM_LINKED: ItemLinked,
    ITEM_REMOVED: ItemRemoved,
    ITEM_STATUS_CHANGED: ItemStatusChanged,
    WEBHOOK_RECEIVED: WebhookReceived,
    SYNC_REQUESTED: SyncRequested,
}


def scrub_webhook_body(body: dict[str, Any]) -> dict[str, Any]:
    """The webhook body without any field that could carry a credential (checked at every depth)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in SECRET_WEBHOOK_FIELDS}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    cleaned: dict[str, Any] = clean(body)
    return cleaned
