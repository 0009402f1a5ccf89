"""An exchanged Item's set-up, from Plaid's exchange to a stored Item and ItemLinked, never losing the Item.

    exchange (retried) ─► record: item_setups row + sealed token ─► /accounts/get (retried) ─► finish:
                          (Plaid bills the Item from here on)        items row, accounts, ItemLinked (one tx)

Plaid bills an Item from its exchange, so the Item is recorded the moment the exchange answers, before
anything else can fail. Transient Plaid failures (`PlaidUnavailable`: 5xx, 429, network, the institution not
responding or down) are retried within the request's budget (`link_exchange_budget_seconds`, libs/common's
backoff); the exchange only while Plaid certainly did not carry it out (a public token is single-use). Past
the budget the request answers 503 `item_setup_pending` with `Retry-After`, and `finish_due` (a `Periodic`
in bootstrap) keeps trying in the background, with backoff per Item. The same request again (the same
public token, found by its SHA-256) finishes or returns the Item instead of exchanging twice. A permanent
failure (Plaid refuses, a twin link committed meanwhile) removes the Item at Plaid; when even that fails,
the set-up stays and the background tries again. The one Item that can be left unknown is an exchange
whose answer was lost (a timeout, a 5xx): ExchangeOutcomeUnknown, logged and counted
(`item_setups_total{outcome="exchange_unknown"}`); the user links again.
"""

import asyncio
import hashlib
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import asyncpg
import structlog
from bankstream_common import outbox
from bankstream_common.backoff import Backoff, Stopped, retry

from ..adapters import repository as repo
from ..adapters import setups, vault
from ..adapters.plaid_client import Exchange, ItemInfo
from ..domain import events as ev
from ..domain import item_state as sm
from ..domain.duplicates import AccountFingerprint, find_duplicate
from ..domain.errors import (
    DuplicateItem,
    ExchangeOutcomeUnknown,
    ItemAlreadyLinked,
    ItemSetupPending,
    PlaidError,
    PlaidRequestFailed,
    PlaidUnavailable,
    VaultError,
)
from ..domain.items import Item
from .context import Deps, event_for

log = structlog.get_logger(__name__)
T = TypeVar("T")

IN_REQUEST = Backoff(base=0.25, cap=2.0, max_attempts=1000)  # bounded by the budget, not the count
GONE_AT_PLAID = frozenset({"ITEM_NOT_FOUND", "INVALID_ACCESS_TOKEN"})
FINISHED_KEPT_SECONDS = 3600.0  # a public token lives 30 minutes: a retry with it comes before this


def later(deps: Deps) -> Backoff:
    """The background's pause before an Item's next attempt: from the interval up to the configured cap."""
    s = deps.settings
    return Backoff(base=s.item_setup_interval_seconds, cap=s.item_setup_max_delay_seconds)


def token_digest(public_token: str) -> bytes:
    return hashlib.sha256(public_token.encode()).digest()


async def within_budget(deps: Deps, fn: Callable[[], Awaitable[T]], deadline: float) -> T:
    """`fn()` retried on PlaidUnavailable until it succeeds or the deadline (loop time) passes; then the
    last PlaidUnavailable is raised. A call in flight at the deadline is not cut (its audit row stays)."""
    loop = asyncio.get_running_loop()
    out_of_time = asyncio.Event()
    timer = loop.call_at(deadline, out_of_time.set)

    def retried(error: BaseException, attempt: int) -> None:
        deps.metrics.plaid_retries.labels(getattr(error, "error_code", None) or "").inc()

    try:
        return await retry(
            fn, backoff=IN_REQUEST, retry_on=(PlaidUnavailable,), stopping=out_of_time, on_retry=retried
        )
    except Stopped as exc:
        if isinstance(exc.__cause__, PlaidUnavailable):
            raise exc.__cause__ from None
        raise PlaidUnavailable("Plaid did not answer within the request's budget", endpoint="") from None
    finally:
        timer.cancel()


async def exchange(deps: Deps, public_token: str, deadline: float) -> Exchange:
    """Retried only while Plaid certainly did not exchange: a public token is single-use, so after an answer
    lost (a timeout, a 5xx) a retry could only be refused INVALID_PUBLIC_TOKEN, the Item orphaned at Plaid."""

    async def once() -> Exchange:
        try:
            return await deps.plaid.exchange_public_token(public_token)
        except PlaidUnavailable as exc:
            if not exc.outcome_unknown:
                raise
            deps.metrics.item_setups.labels("exchange_unknown").inc()
            log.error(
                "public token exchange outcome unknown: Plaid may hold an Item never stored here",
                err=exc.error_code,
                status=exc.status,
                plaid_request_id=exc.request_id,
            )
            raise ExchangeOutcomeUnknown(
                "Plaid may have exchanged this public token but its answer was lost; a public token can "
                "be exchanged only once: link again",
                endpoint=exc.endpoint,
                status=exc.status,
                error_type=exc.error_type,
                error_code=exc.error_code,
                request_id=exc.request_id,
            ) from None

    return await within_budget(deps, once, deadline)


async def record(
    deps: Deps,
    conn: asyncpg.Connection,
    exchanged: Exchange,
    *,
    user_id: str,
    digest: bytes,
    institution_id: str,
    institution_name: str | None,
    offered: list[AccountFingerprint],
) -> setups.Setup:
    """The exchanged Item, kept at once: its set-up row and its sealed token, in one transaction (a
    savepoint of the caller's, when it holds one)."""
    sealed = deps.keyring.seal(exchanged.item_id, exchanged.access_token)
    async with conn.transaction():
        known = await repo.get_item(conn, exchanged.item_id)
        if known is not None:  # this Item is no new one to set up, it IS a stored one
            raise ItemAlreadyLinked(exchanged.item_id, owned=known.user_id == user_id)
        recorded = await setups.insert(
            conn,
            item_id=exchanged.item_id,
            user_id=user_id,
            public_token_sha256=digest,
            institution_id=institution_id,
            institution_name=institution_name,
            offered=offered,
        )
        if not recorded:
            raise ItemAlreadyLinked(exchanged.item_id, owned=False)
        await vault.store(conn, exchanged.item_id, sealed)
        setup = await setups.lock(conn, exchanged.item_id)
    assert setup is not None
    return setup


async def finish(deps: Deps, setup: setups.Setup, deadline: float | None) -> Item:
    """Fetch the Item's accounts and store it with ItemLinked. With a deadline (a request), transient
    failures are retried until it, then ItemSetupPending; without (the background), one attempt."""
    token = deps.keyring.open(setup.item_id, await _sealed(deps, setup.item_id))
    try:
        if deadline is None:
            info = await deps.plaid.get_item(token, setup.item_id)
        else:
            info = await within_budget(deps, lambda: deps.plaid.get_item(token, setup.item_id), deadline)
    except PlaidUnavailable as exc:
        await setups.postpone(deps.pool, setup.item_id, exc.error_code, later(deps).delay(setup.attempts))
        deps.metrics.item_setups.labels("deferred").inc()
        raise ItemSetupPending(
            setup.item_id, retry_after=math.ceil(later(deps).base), error_code=exc.error_code
        ) from None
    except PlaidRequestFailed:
        await abandon(deps, setup, token)
        raise
    try:
        return await _store(deps, setup, info)
    except DuplicateItem:
        await abandon(deps, setup, token)
        raise


async def _store(deps: Deps, setup: setups.Setup, info: ItemInfo) -> Item:
    institution = info.institution_id or setup.institution_id
    name = info.institution_name or setup.institution_name
    async with deps.pool.acquire() as conn, conn.transaction():
        # one link per (user, institution) at a time: a concurrent twin waits, then sees this one
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))", setup.user_id, institution
        )
        locked = await setups.lock(conn, setup.item_id)
        stored = await repo.get_item(conn, setup.item_id)
        if locked is None or locked.finished or stored is not None:
            if stored is None:
                raise ItemSetupPending(setup.item_id, retry_after=1, error_code=None)
            return stored  # finished meanwhile (the background, or the same request sent twice)
        rivals = await repo.live_items_at(conn, setup.user_id, institution)
        # a twin link that committed meanwhile: what Link reported, or what Plaid returned
        fetched = [AccountFingerprint(a.mask, a.name, a.type, a.subtype) for a in info.accounts]
        twin = find_duplicate(
            setup.user_id, institution, setup.offered + fetched, [i.as_linked() for i in rivals]
        )
        if twin is not None:
            raise DuplicateItem(twin.item_id, institution)
        await repo.insert_item(
            conn,
            item_id=setup.item_id,
            user_id=setup.user_id,
            institution_id=institution,
            institution_name=name,
            products=info.products,
            accounts=info.accounts,
        )
        linked = ev.ItemLinked(
            user_id=setup.user_id,
            item_id=setup.item_id,
            institution_id=institution,
            institution_name=name,
            status=sm.ItemStatus.GOOD,
            products=info.products,
            accounts=info.accounts,
            linked_at=datetime.now(UTC),
        )
        await outbox.enqueue(
            conn,
            topic=deps.topic(ev.TOPIC_ITEMS),
            key=setup.item_id,
            event=event_for(ev.ITEM_LINKED, setup.item_id, linked),
        )
        await setups.mark_finished(conn, setup.item_id)
    deps.metrics.items_linked.inc()
    deps.metrics.item_setups.labels("finished" if setup.attempts == 0 else "finished_late").inc()
    log.info("item linked", item_id=setup.item_id, institution_id=institution, accounts=len(info.accounts))
    item = await repo.get_item(deps.pool, setup.item_id)
    assert item is not None
    return item


async def abandon(deps: Deps, setup: setups.Setup, access_token: str) -> None:
    """Remove the Item at Plaid, then forget it here; if Plaid cannot be reached, keep it for later."""
    try:
        await deps.plaid.remove_item(access_token, setup.item_id)
    except PlaidError as exc:
        if exc.error_code not in GONE_AT_PLAID:
            log.error("could not remove an unstored item at Plaid", item_id=setup.item_id, err=exc.error_code)
            delay = later(deps).delay(setup.attempts)
            await setups.postpone(deps.pool, setup.item_id, exc.error_code, delay)
            return
    await setups.forget(deps.pool, setup.item_id)
    deps.metrics.item_setups.labels("abandoned").inc()


async def finish_due(deps: Deps, *, batch: int = 10, lease_seconds: float = 120.0) -> None:
    """The background's turn: one attempt for each set-up that is due; then forget old finished ones."""
    for setup in await setups.claim_due(deps.pool, batch, lease_seconds):
        try:
            await finish(deps, setup, deadline=None)
        except (ItemSetupPending, PlaidError, DuplicateItem, ItemAlreadyLinked, VaultError) as exc:
            log.info("item set-up not finished", item_id=setup.item_id, outcome=type(exc).__name__)
    deps.metrics.item_setups_pending.set(await setups.pending_count(deps.pool))
    await setups.prune_finished(deps.pool, FINISHED_KEPT_SECONDS)


async def _sealed(deps: Deps, item_id: str) -> vault.SealedToken:
    sealed = await vault.load(deps.pool, item_id)
    if sealed is None:
        raise ItemSetupPending(item_id, retry_after=1, error_code=None)
    return sealed
