"""Link: link tokens (new and update mode), the public token exchange, Link session events."""

import asyncio

import asyncpg
import structlog
from bankstream_common.auth import Principal

from ..adapters import repository as repo
from ..adapters import setups
from ..adapters.plaid_client import Exchange, LinkToken, LinkTokenRequest
from ..domain.access import Scope
from ..domain.commands import (
    CreateLinkToken,
    CreateUpdateLinkToken,
    ExchangePublicToken,
    LinkSessionEvent,
)
from ..domain.duplicates import AccountFingerprint, find_duplicate
from ..domain.errors import (
    DuplicateItem,
    InvalidRequest,
    ItemAlreadyLinked,
    ItemGone,
    ItemNotFound,
    PlaidError,
)
from ..domain.items import Item
from . import item_setup as setup
from .context import Deps, access_token_of, visible_item

log = structlog.get_logger(__name__)


async def create_link_token(deps: Deps, principal: Principal, cmd: CreateLinkToken) -> LinkToken:
    """A new Link token. The products are the caller's pick within the configured allow-list; the webhook
    and the OAuth redirect URI are the deployment's, never the caller's."""
    principal.require(Scope.LINK_WRITE)
    s = deps.settings
    user_id = principal.acting_user(cmd.user_id)
    refused = sorted(set(cmd.products or ()) - s.products_allowed)
    if refused:
        allowed = ", ".join(sorted(s.products_allowed))
        raise InvalidRequest(f"products not allowed here: {', '.join(refused)} (allowed: {allowed})")
    token = await deps.plaid.create_link_token(
        LinkTokenRequest(
            user_id=user_id,
            client_name=s.link_client_name,
            country_codes=s.link_country_codes,
            language=s.link_language,
            products=cmd.products or s.link_products,
            days_requested=cmd.days_requested or s.link_days_requested,
            webhook=s.link_webhook_url,
            redirect_uri=s.link_redirect_uri,
            account_filters=cmd.account_filters.for_plaid() if cmd.account_filters else None,
        )
    )
    deps.metrics.link_tokens.labels("new").inc()
    return token


async def create_update_link_token(
    deps: Deps, principal: Principal, item_id: str, cmd: CreateUpdateLinkToken, user: str | None = None
) -> LinkToken:
    item = await visible_item(deps, principal, item_id, Scope.LINK_WRITE, user)
    if item.removed:
        raise ItemGone(item_id)
    s = deps.settings
    token = await deps.plaid.create_link_token(
        LinkTokenRequest(
            user_id=item.user_id,
            client_name=s.link_client_name,
            country_codes=s.link_country_codes,
            language=s.link_language,
            webhook=s.link_webhook_url,
            redirect_uri=s.link_redirect_uri,
            access_token=await access_token_of(deps, item_id),
            account_selection=cmd.reason == "new_accounts",
        ),
        item_id=item_id,
    )
    deps.metrics.link_tokens.labels(f"update_{cmd.reason}").inc()
    return token


async def exchange_public_token(deps: Deps, principal: Principal, cmd: ExchangePublicToken) -> Item:
    """Refuse a duplicate from onSuccess metadata first; then exchange, keep, fetch, store, publish ItemLinked
    (item_setup.py: transient Plaid failures retried within the budget, the Item never lost). The same
    request again finds its set-up by the public token instead of exchanging it twice; sent twice at once
    (a double submit), the second waits on a lock keyed by the token until the first has kept its Item."""
    principal.require(Scope.LINK_WRITE)
    user_id = principal.acting_user(cmd.user_id)
    public_token = cmd.public_token.get_secret_value()
    digest = setup.token_digest(public_token)
    deadline = asyncio.get_running_loop().time() + deps.settings.link_exchange_budget_seconds
    exchanged: Exchange | None = None
    # the same token twice at once (a double submit): the second waits on this lock until the first has kept
    # its Item, then finds it. The lock's connection is held while Plaid answers (see Deps.exchange_slots).
    try:
        async with deps.exchange_slots, deps.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1)", int.from_bytes(digest[:8], "big", signed=True)
            )
            kept = await setups.by_public_token(conn, digest)
            if kept is None:
                exchanged, offered = await _exchange(deps, conn, cmd, user_id, public_token, deadline)
                kept = await setup.record(
                    deps,
                    conn,
                    exchanged,
                    user_id=user_id,
                    digest=digest,
                    institution_id=cmd.metadata.institution.institution_id,
                    institution_name=cmd.metadata.institution.name,
                    offered=offered,
                )
            elif kept.user_id != user_id:
                raise ItemAlreadyLinked(kept.item_id, owned=False)
    except ItemAlreadyLinked:
        raise  # the Item lives on under its first link: removing it at Plaid would break that one
    except BaseException:
        if exchanged is not None:  # nothing was kept: leave no live, billable Item at Plaid nobody can reach
            await _undo_exchange(deps, exchanged.access_token, exchanged.item_id)
        raise
    if kept.finished:
        item = await repo.get_item(deps.pool, kept.item_id)
        if item is None:
            raise ItemGone(kept.item_id)
        return item
    return await setup.finish(deps, kept, deadline)


async def _exchange(
    deps: Deps,
    conn: asyncpg.Connection,
    cmd: ExchangePublicToken,
    user_id: str,
    public_token: str,
    deadline: float,
) -> tuple[Exchange, list[AccountFingerprint]]:
    """Refuse a duplicate from Link's metadata, then exchange; the accounts Link offered."""
    institution_id = cmd.metadata.institution.institution_id
    offered = [AccountFingerprint(a.mask, a.name, a.type, a.subtype) for a in cmd.metadata.accounts]
    existing = await repo.live_items_at(conn, user_id, institution_id)
    duplicate = find_duplicate(user_id, institution_id, offered, [i.as_linked() for i in existing])
    if duplicate is not None:
        deps.metrics.duplicates_refused.inc()
        raise DuplicateItem(duplicate.item_id, institution_id)
    return await setup.exchange(deps, public_token, deadline), offered


async def _undo_exchange(deps: Deps, access_token: str, item_id: str) -> None:
    try:
        await deps.plaid.remove_item(access_token, item_id)
    except PlaidError as exc:
        log.error("could not remove an unstored item at Plaid", item_id=item_id, error_code=exc.error_code)


async def record_link_session(deps: Deps, principal: Principal, cmd: LinkSessionEvent) -> int:
    """Link's onSuccess / onExit metadata, kept for troubleshooting, for the caller's user (a service token
    names it). An `item_id` must be an Item of that user: anyone else's is not found."""
    principal.require(Scope.LINK_WRITE)
    user_id = principal.acting_user(cmd.user_id)
    if cmd.item_id is not None:
        item = await repo.get_item(deps.pool, cmd.item_id)
        if item is None or item.user_id != user_id:
            raise ItemNotFound(cmd.item_id)
    row_id = await repo.record_link_session(
        deps.pool,
        user_id=user_id,
        outcome=cmd.outcome,
        link_session_id=cmd.link_session_id,
        request_id=cmd.request_id,
        institution_id=cmd.institution.institution_id if cmd.institution else None,
        item_id=cmd.item_id,
        error_type=cmd.error.error_type if cmd.error else None,
        error_code=cmd.error.error_code if cmd.error else None,
        exit_status=cmd.status,
    )
    deps.metrics.link_sessions.labels(cmd.outcome).inc()
    log.info(
        "link session event",
        outcome=cmd.outcome,
        link_session_id=cmd.link_session_id,
        plaid_request_id=cmd.request_id,
        error_code=cmd.error.error_code if cmd.error else None,
    )
    return row_id
