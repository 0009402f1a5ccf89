"""What the HTTP API answers: response models (request bodies are the domain's commands)."""

from datetime import datetime

from pydantic import BaseModel, Field

from ..adapters.plaid_client import LinkToken
from ..domain.events import Account
from ..domain.item_state import needs_repair
from ..domain.items import Item, StatusChange


class LinkTokenOut(BaseModel):
    link_token: str = Field(description="hand it to Plaid Link; it expires (4 h, 30 min in update mode)")
    expiration: str
    mode: str = Field(description="new | update")
    plaid_request_id: str

    @classmethod
    def of(cls, token: LinkToken, mode: str) -> "LinkTokenOut":
        return cls(
            link_token=token.link_token,
            expiration=token.expiration,
            mode=mode,
            plaid_request_id=token.request_id,
        )


class StatusChangeOut(BaseModel):
    from_status: str
    to_status: str
    trigger: str
    code: str | None
    changed_at: datetime


class ItemOut(BaseModel):
    item_id: str
    user_id: str
    institution_id: str | None
    institution_name: str | None
    status: str = Field(examples=["good"])
    status_code: str | None = Field(description="the webhook or Plaid error code behind the status")
    needs_repair: bool = Field(description="true when the user should go through update mode")
    products: list[str]
    accounts: list[Account]
    created_at: datetime
    updated_at: datetime
    removed_at: datetime | None

    @classmethod
    def of(cls, item: Item) -> "ItemOut":
        return cls(
            item_id=item.item_id,
            user_id=item.user_id,
            institution_id=item.institution_id,
            institution_name=item.institution_name,
            status=item.status.value,
            status_code=item.status_code,
            needs_repair=needs_repair(item.status),
            products=item.products,
            accounts=item.accounts,
            created_at=item.created_at,
            updated_at=item.updated_at,
            removed_at=item.removed_at,
        )


class ItemDetailOut(ItemOut):
    status_history: list[StatusChangeOut] = Field(default_factory=list)

    @classmethod
    def with_history(cls, item: Item, history: list[StatusChange]) -> "ItemDetailOut":
        return cls(
            **ItemOut.of(item).model_dump(),
            status_history=[
                StatusChangeOut(
                    from_status=h.from_status.value,
                    to_status=h.to_status.value,
                    trigger=h.trigger,
                    code=h.code,
                    changed_at=h.changed_at,
                )
                for h in history
            ],
        )


class ItemList(BaseModel):
    items: list[ItemOut]


class Recorded(BaseModel):
    id: int


class SyncRequestedOut(BaseModel):
    item_id: str
    event_id: str


class WebhookAck(BaseModel):
    status: str = Field(examples=["received", "duplicate"])


class AccessTokenOut(BaseModel):
    item_id: str
    access_token: str = Field(description="internal only: for the sync-worker; never logged")
