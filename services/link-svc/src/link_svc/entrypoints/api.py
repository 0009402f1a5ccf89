"""The authenticated HTTP API, versioned under /v1 (and /internal/v1 for other services).

Every route here needs `Authorization: Bearer <JWT>`; scopes and ownership are checked by the handlers.
The Plaid webhook route (webhooks.py) is the only unauthenticated one besides the probes.
"""

from typing import Annotated

from bankstream_common.http_auth import Caller
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from .. import handlers
from ..domain.commands import (
    CreateLinkToken,
    CreateUpdateLinkToken,
    ExchangePublicToken,
    LinkSessionEvent,
    UpdateModeCompleted,
)
from ..handlers import ingress, items, link
from .responses import COMMON, DUPLICATE, ITEM, PLAID
from .schemas import (
    AccessTokenOut,
    ItemDetailOut,
    ItemList,
    ItemOut,
    LinkTokenOut,
    Recorded,
    SyncRequestedOut,
)


def deps_of(request: Request) -> handlers.Deps:
    deps: handlers.Deps = request.app.state.deps
    return deps


Deps = Annotated[handlers.Deps, Depends(deps_of)]
ForUser = Annotated[
    str | None,
    Query(max_length=200, description="a service token: the user it acts for (a user token acts for itself)"),
]

router = APIRouter(prefix="/v1", tags=["link"], responses=COMMON)
internal = APIRouter(prefix="/internal/v1", tags=["internal"], responses=COMMON)


@router.post(
    "/link-tokens",
    status_code=201,
    response_model=LinkTokenOut,
    summary="Create a Link token",
    responses=PLAID,
)
async def create_link_token(cmd: CreateLinkToken, deps: Deps, who: Caller) -> LinkTokenOut:
    return LinkTokenOut.of(await link.create_link_token(deps, who, cmd), "new")


@router.post(
    "/items/{item_id}/link-token",
    status_code=201,
    response_model=LinkTokenOut,
    summary="Create an update-mode Link token for an Item (login required, pending expiration, new accounts)",
    responses={**ITEM, **PLAID},
)
async def create_update_link_token(
    item_id: str, cmd: CreateUpdateLinkToken, deps: Deps, who: Caller, user_id: ForUser = None
) -> LinkTokenOut:
    return LinkTokenOut.of(await link.create_update_link_token(deps, who, item_id, cmd, user_id), "update")


@router.post(
    "/items",
    status_code=201,
    response_model=ItemDetailOut,
    summary="Exchange Link's public token into an Item",
    responses={**PLAID, **DUPLICATE},
)
async def exchange_public_token(cmd: ExchangePublicToken, deps: Deps, who: Caller) -> ItemDetailOut:
    item = await link.exchange_public_token(deps, who, cmd)
    return ItemDetailOut.with_history(item, [])


@router.get("/items", response_model=ItemList, summary="List your Items with status and accounts")
async def list_items(
    deps: Deps, who: Caller, user_id: ForUser = None, include_removed: Annotated[bool, Query()] = False
) -> ItemList:
    found = await items.list_items(deps, who, user_id, include_removed=include_removed)
    return ItemList(items=[ItemOut.of(i) for i in found])


@router.get(
    "/items/{item_id}",
    response_model=ItemDetailOut,
    summary="One Item with its status history",
    responses=ITEM,
)
async def get_item(item_id: str, deps: Deps, who: Caller, user_id: ForUser = None) -> ItemDetailOut:
    item, history = await items.get_item(deps, who, item_id, user_id)
    return ItemDetailOut.with_history(item, history)


@router.post(
    "/items/{item_id}/update-completed",
    response_model=ItemOut,
    summary="Report a successful update-mode Link: the Item is good again, its accounts refreshed",
    responses={**ITEM, **PLAID},
)
async def update_mode_completed(
    item_id: str, cmd: UpdateModeCompleted, deps: Deps, who: Caller, user_id: ForUser = None
) -> ItemOut:
    return ItemOut.of(await items.update_mode_completed(deps, who, item_id, cmd, user_id))


@router.delete(
    "/items/{item_id}",
    response_model=ItemOut,
    summary="Remove an Item (at Plaid too)",
    responses={**ITEM, **PLAID},
)
async def remove_item(item_id: str, deps: Deps, who: Caller, user_id: ForUser = None) -> ItemOut:
    return ItemOut.of(await items.remove_item(deps, who, item_id, user_id))


@router.post(
    "/items/{item_id}/sync",
    status_code=202,
    response_model=SyncRequestedOut,
    summary="Sync now",
    responses=ITEM,
)
async def request_sync(
    item_id: str,
    deps: Deps,
    who: Caller,
    user_id: ForUser = None,
    refresh: Annotated[bool, Query(description="ask Plaid to look for new data first")] = False,
) -> SyncRequestedOut:
    event = await items.request_sync(deps, who, item_id, user_id, refresh=refresh)
    return SyncRequestedOut(item_id=item_id, event_id=str(event.id))


@router.post(
    "/link-sessions/events",
    status_code=201,
    response_model=Recorded,
    summary="Record Link onSuccess / onExit metadata for troubleshooting",
    responses={404: ITEM[404]},
)
async def record_link_session(cmd: LinkSessionEvent, deps: Deps, who: Caller) -> Recorded:
    return Recorded(id=await link.record_link_session(deps, who, cmd))


@internal.post(
    "/items/{item_id}/access-token",
    response_model=AccessTokenOut,
    summary="Release an Item's access token to a service holding vault:read (audited)",
    responses=ITEM,
)
async def release_access_token(item_id: str, deps: Deps, who: Caller) -> JSONResponse:
    token = await ingress.release_access_token(deps, who, item_id)
    body = AccessTokenOut(item_id=item_id, access_token=token).model_dump()
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
