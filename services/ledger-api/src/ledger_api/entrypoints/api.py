"""The authenticated read and edit API, versioned under /v1.

Every route needs `Authorization: Bearer <JWT>`: `ledger:read` to read, `ledger:write` to edit or ask for
a refresh. A user token acts for its own user; a service token names the user with `?user_id=`.
"""

from datetime import date
from typing import Annotated, Any

import orjson
from bankstream_common.http_auth import Caller
from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from .. import handlers
from ..domain.filters import DEFAULT_LIMIT, MAX_LIMIT
from ..domain.views import etag, etag_matches, transaction_view
from ..handlers import edits, feed, queries
from .schemas import (
    AccountList,
    AccountWithItemOut,
    BalanceHistory,
    BalancePoint,
    ChangesPage,
    ErrorOut,
    ItemList,
    ItemOut,
    RefreshAccepted,
    TransactionDetail,
    TransactionEditIn,
    TransactionOut,
    TransactionPage,
    TransactionQuery,
)


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("no valid bearer token"),
    403: _error("the token lacks the scope, or a service token names no user_id"),
    422: _error("a parameter or body field is refused (`validation_error`, `invalid_parameter`)"),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("no such entity, or not the caller's")}
BAD_CURSOR: dict[int | str, dict[str, Any]] = {
    400: _error("`invalid_cursor`: malformed, or issued for other filters or another sort")
}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "If-None-Match matched the ETag: nothing changed"}
}

SSE_EVENT = {
    "type": "object",
    "description": "one Server-Sent Event",
    "properties": {
        "id": {"type": "string", "description": "the feed cursor after this change (send as Last-Event-ID)"},
        "event": {"type": "string", "enum": ["change"]},
        "data": {
            "type": "string",
            "description": "the change, as JSON (the shape of GET /v1/changes' items)",
        },
        "retry": {"type": "integer"},
    },
}

ID = r"^[^\x00]+$"
UserId = Annotated[
    str | None,
    Query(min_length=1, max_length=200, pattern=ID, description="service tokens: the user to act for"),
]
IfNoneMatch = Annotated[str | None, Header(max_length=1000, description="an ETag from an earlier answer")]


async def deps_of(request: Request) -> handlers.Deps:  # async: a sync dependency costs a thread hop
    deps: handlers.Deps = request.app.state.deps
    return deps


Deps = Annotated[handlers.Deps, Depends(deps_of)]

router = APIRouter(prefix="/v1", tags=["ledger"], responses=ERRORS)


def _json(body: Any, headers: dict[str, str] | None = None) -> Response:
    """The hot paths answer with orjson, from the views as they are: the response models document the
    shape (and the fuzz test holds the answers to it) without a validate-and-dump round trip per row."""
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def _cached(body: Any, tag: str, if_none_match: str | None) -> Response:
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if etag_matches(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    if isinstance(body, bytes):
        return Response(body, media_type="application/json", headers=headers)
    return _json(body, headers)


@router.get(
    "/transactions",
    response_model=TransactionPage,
    summary="List transactions: filters, sort, keyset pages (cursor), ETag",
    responses={**BAD_CURSOR, **NOT_MODIFIED},
)
async def list_transactions(
    params: Annotated[TransactionQuery, Query()], deps: Deps, who: Caller, if_none_match: IfNoneMatch = None
) -> Response:
    page = await queries.list_transactions(
        deps, who, params.user_id, params.filters(), params.cursor, params.limit
    )
    body = b"".join(
        (
            b'{"transactions":[',
            ",".join(page.transactions).encode(),
            b'],"next_cursor":',
            orjson.dumps(page.next_cursor),
            b"}",
        )
    )
    return _cached(body, page.etag, if_none_match)


@router.get(
    "/transactions/{transaction_id}",
    response_model=TransactionDetail,
    summary="One transaction: effective category and where it came from, the user's edits, its history",
    responses={**NOT_FOUND, **NOT_MODIFIED},
)
async def get_transaction(
    transaction_id: Annotated[str, Path(max_length=200, pattern=ID)],
    deps: Deps,
    who: Caller,
    user_id: UserId = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    detail = await queries.get_transaction(deps, who, user_id, transaction_id)
    body = {
        **detail.transaction,
        "user_edited_at": detail.edited_at,
        "successor_id": detail.successor_id,
        "history": detail.history,
    }
    return _cached(body, detail.etag, if_none_match)


@router.patch(
    "/transactions/{transaction_id}",
    response_model=TransactionOut,
    summary="Edit a transaction: category (PFC v2 detailed; null clears), notes, tags, hidden",
    responses={
        **NOT_FOUND,
        400: _error("`bad_request`: the body is not JSON"),
        409: _error("`transaction_superseded` (edit `successor_id` instead) or `transaction_removed`"),
        412: _error("If-Match names a stale ETag; the current one is in the ETag header"),
    },
)
async def edit_transaction(
    transaction_id: Annotated[str, Path(max_length=200, pattern=ID)],
    body: Annotated[TransactionEditIn, Body()],
    deps: Deps,
    who: Caller,
    user_id: UserId = None,
    if_match: Annotated[str | None, Header(max_length=1000, description="the ETag you read")] = None,
) -> Response:
    edit = edits.edit_of(deps.taxonomy, body.model_dump(include=body.model_fields_set))
    row = await edits.edit_transaction(deps, who, user_id, transaction_id, edit, if_match)
    return _json(transaction_view(row), headers={"ETag": etag(row["version"], row["edit_version"])})


@router.get(
    "/items", response_model=ItemList, summary="Your Items: status, last sync, accounts with coverage"
)
async def list_items(
    deps: Deps, who: Caller, user_id: UserId = None, include_removed: Annotated[bool, Query()] = False
) -> ItemList:
    items = await queries.list_items(deps, who, user_id, include_removed)
    return ItemList(items=[ItemOut.model_validate(i) for i in items])


@router.get(
    "/accounts",
    response_model=AccountList,
    summary="Your accounts: balances, Item status, transaction counts and date coverage (one query)",
)
async def list_accounts(
    deps: Deps,
    who: Caller,
    user_id: UserId = None,
    item_id: Annotated[str | None, Query(min_length=1, max_length=200, pattern=ID)] = None,
) -> AccountList:
    rows = await queries.list_accounts(deps, who, user_id, item_id)
    return AccountList(accounts=[AccountWithItemOut.model_validate(dict(r)) for r in rows])


@router.get(
    "/accounts/{account_id}/balances",
    response_model=BalanceHistory,
    summary="An account's balance history: one point per day",
    responses=NOT_FOUND,
)
async def balance_history(
    account_id: Annotated[str, Path(max_length=200, pattern=ID)],
    deps: Deps,
    who: Caller,
    user_id: UserId = None,
    from_day: Annotated[date | None, Query(alias="from")] = None,
    to_day: Annotated[date | None, Query(alias="to")] = None,
) -> BalanceHistory:
    rows = await queries.balance_history(deps, who, user_id, account_id, from_day, to_day)
    return BalanceHistory(account_id=account_id, points=[BalancePoint.model_validate(dict(r)) for r in rows])


@router.get(
    "/changes",
    response_model=ChangesPage,
    summary="The change feed: every change of your ledger in commit order, with a resumable cursor",
    responses=BAD_CURSOR,
)
async def changes(
    deps: Deps,
    who: Caller,
    user_id: UserId = None,
    cursor: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    page = await feed.changes_page(deps, who, user_id, cursor, limit)
    return _json({"changes": page.changes, "next_cursor": page.next_cursor})


@router.get(
    "/stream",
    summary="The change feed as Server-Sent Events (resume with Last-Event-ID)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`event: change` per change, `id` = its feed cursor, `data` = the change (JSON)",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        },
        **BAD_CURSOR,
        503: _error("`too_many_streams`: retry shortly (Retry-After), or poll /v1/changes"),
    },
)
async def stream(
    deps: Deps,
    who: Caller,
    user_id: UserId = None,
    last_event_id: Annotated[str | None, Header(max_length=1024)] = None,
) -> StreamingResponse:
    events = feed.open_stream(deps, who, user_id, last_event_id)
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/items/{item_id}/refresh",
    status_code=202,
    response_model=RefreshAccepted,
    summary="Ask for an on-demand sync of an Item (SyncRequested); at most one per Item per interval",
    responses={
        **NOT_FOUND,
        410: _error("the Item was removed"),
        429: _error("`rate_limited`: asked too recently; Retry-After says when to ask again"),
    },
)
async def refresh_item(
    item_id: Annotated[str, Path(max_length=200, pattern=ID)], deps: Deps, who: Caller, user_id: UserId = None
) -> RefreshAccepted:
    event = await feed.request_refresh(deps, who, user_id, item_id)
    return RefreshAccepted(item_id=item_id, event_id=str(event.id))
