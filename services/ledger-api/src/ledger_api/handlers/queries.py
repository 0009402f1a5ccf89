"""Reads: transaction pages (keyset), one transaction with its history, Items, accounts, balances."""

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from bankstream_common.auth import Principal

from ..adapters import read_store as store
from ..domain.cursors import TransactionPosition, decode_transactions, encode_transactions
from ..domain.errors import AccountNotFound, InvalidQuery, TransactionNotFound
from ..domain.filters import TransactionFilter
from ..domain.views import etag, transaction_view
from .context import READ, Deps, acting_user


@dataclass(frozen=True)
class Page:
    transactions: list[str]  # each one's JSON (domain.views.transaction_view's shape), built by PostgreSQL
    next_cursor: str | None
    etag: str


@dataclass(frozen=True)
class TransactionDetail:
    transaction: dict[str, Any]
    edited_at: Any
    successor_id: str | None
    history: list[dict[str, Any]]
    etag: str


async def list_transactions(
    deps: Deps, who: Principal, user_id: str | None, filters: dict[str, Any], cursor: str | None, limit: int
) -> Page:
    user = acting_user(who, READ, user_id)
    f = TransactionFilter(user_id=user, **filters).check(deps.taxonomy)
    query_hash = f.fingerprint()
    after = decode_transactions(cursor, sort=f.sort.value, query_hash=query_hash) if cursor else None
    rows = await store.list_transactions(deps.pool, f, after, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = None
    if more:
        last = page[-1]
        position = TransactionPosition(f.sort.value, last[f.sort.column], last["transaction_id"])
        next_cursor = encode_transactions(position, query_hash)
    digest = hashlib.sha256(repr(next_cursor).encode())
    for r in page:
        digest.update(f"{r['transaction_id']}:{r['version']}:{r['edit_version']}:{r['removed']};".encode())
    return Page([r["view"] for r in page], next_cursor, f'W/"{digest.hexdigest()[:20]}"')


async def get_transaction(
    deps: Deps, who: Principal, user_id: str | None, transaction_id: str
) -> TransactionDetail:
    user = acting_user(who, READ, user_id)
    async with deps.pool.acquire() as conn:
        row = await store.get_transaction(conn, transaction_id, user)
        if row is None:
            raise TransactionNotFound(transaction_id)
        successor = await store.successor_of(conn, transaction_id) if row["pending"] else None
        history = await store.history(conn, transaction_id)
    return TransactionDetail(
        transaction_view(row),
        row["user_edited_at"],
        successor,
        history,
        etag(row["version"], row["edit_version"]),
    )


async def list_items(
    deps: Deps, who: Principal, user_id: str | None, include_removed: bool
) -> list[dict[str, Any]]:
    user = acting_user(who, READ, user_id)
    return await store.list_items(deps.pool, user, include_removed)


async def list_accounts(deps: Deps, who: Principal, user_id: str | None, item_id: str | None) -> list[Any]:
    user = acting_user(who, READ, user_id)
    return await store.list_accounts(deps.pool, user, item_id)


async def balance_history(
    deps: Deps,
    who: Principal,
    user_id: str | None,
    account_id: str,
    from_day: date | None,
    to_day: date | None,
) -> list[Any]:
    user = acting_user(who, READ, user_id)
    if from_day and to_day and from_day > to_day:
        raise InvalidQuery("from", "the date range is inverted: from must be on or before to")
    exists, owner = await store.account_owner(deps.pool, account_id)
    if not exists or owner != user:
        raise AccountNotFound(account_id)
    return list(await store.balance_history(deps.pool, account_id, from_day, to_day))
