"""Reconciliation (POST /v1/reconciliations, GET /v1/reconciliations/{id}): expected entries against the
user's ledger, matched one to one (domain.reconciliation), the answer kept to be fetched again."""

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from bankstream_common.auth import Principal

from ..adapters import reconciliation_store as store
from ..domain import matching
from ..domain.errors import AccountNotFound, InvalidQuery, ReconciliationNotFound
from ..domain.reconciliation import MAX_CANDIDATE_PAIRS, MAX_COVERED, Entry, reconcile, span
from .context import READ, Deps, acting_user

log = structlog.get_logger(__name__)


async def create(
    deps: Deps,
    who: Principal,
    user_id: str | None,
    entries: Sequence[Entry],
    account_id: str | None,
    rules: matching.Rules,
) -> dict[str, Any]:
    user = acting_user(who, READ, user_id)
    entries = [e if e.account_id or not account_id else _with_account(e, account_id) for e in entries]
    named = sorted({e.account_id for e in entries if e.account_id})
    reconciliation_id = uuid.uuid4()
    async with deps.pool.acquire() as conn, conn.transaction():
        mine = await store.accounts_of(conn, user, named)
        for a in named:
            if a not in mine:
                raise AccountNotFound(a)
        # the accounts the answer speaks of: those named when every entry names one, else all the user's
        scope = named if all(e.account_id for e in entries) else None
        rows = await store.candidates(
            conn,
            user,
            [(e.amount, e.day, e.account_id) for e in entries],
            scope,
            rules.amount_tolerance,
            rules.date_window_days,
            MAX_CANDIDATE_PAIRS + 1,
        )
        if len(rows) > MAX_CANDIDATE_PAIRS:
            raise InvalidQuery(
                "entries",
                f"more than {MAX_CANDIDATE_PAIRS:,} (entry, transaction) pairs are within the amount "
                "tolerance and the date window: narrow them, name the account, or send fewer entries",
            )
        first, last = span(entries, rules.date_window_days)
        covered = await store.covered(conn, user, scope, first, last, MAX_COVERED + 1)
        if len(covered) > MAX_COVERED:
            raise InvalidQuery(
                "entries",
                f"the entries' dates span more than {MAX_COVERED:,} transactions: reconcile a shorter "
                "period, or name the account",
            )
        # scoring and assignment are this process's CPU only: on a worker thread, so that other requests
        # are answered meanwhile
        result = await asyncio.to_thread(reconcile, entries, rows, covered, rules)
        parameters = {
            "account_id": account_id,
            "amount_tolerance": float(rules.amount_tolerance),
            "date_window_days": rules.date_window_days,
            "min_similarity": rules.min_similarity,
        }
        answer = {
            "reconciliation_id": str(reconciliation_id),
            "parameters": parameters,
            **result,
        }
        await store.insert(conn, reconciliation_id, user, parameters, answer)
    deps.metrics.reconciliations.inc()
    log.info("reconciled", reconciliation_id=str(reconciliation_id), **result["summary"])
    return answer


async def get(deps: Deps, who: Principal, user_id: str | None, reconciliation_id: str) -> str:
    """The kept answer, as the JSON it was first given."""
    user = acting_user(who, READ, user_id)
    try:
        key = uuid.UUID(reconciliation_id)
    except ValueError:
        raise ReconciliationNotFound(reconciliation_id) from None
    row = await store.get(deps.pool, key)
    if row is None or row["user_id"] != user:
        raise ReconciliationNotFound(reconciliation_id)
    result: str = row["result"]
    return result


def _with_account(entry: Entry, account_id: str) -> Entry:
    return Entry(entry.amount, entry.day, entry.description, account_id, entry.reference)
