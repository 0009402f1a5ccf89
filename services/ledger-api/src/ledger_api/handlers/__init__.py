"""ledger-api's handlers: one module per family of commands, queries or events, taking what bootstrap()
wired (`Deps`).

Queries and commands check the caller (scope, acting user) first, then read or write through adapters; a
command writes its rows, its `changes` row and the events describing it in ONE transaction (the outbox).

    queries.py                 transactions, one transaction, items, accounts, balance history
    edits.py                   PATCH: user edits + CategoryOverridden
    feed.py                    the change feed, SSE, refresh (SyncRequested, rate-limited per Item)
    insights.py                spending, cash flow, net worth, recurring streams, the review queue
    projections.py             the consumer's batch handler: every stream into the ledger's tables
    transaction_projection.py  TransactionCategorized -> transactions (+ changes)
    item_projection.py         Items, accounts, balances, sync runs (+ changes)
    reconciliations.py         expected entries matched against the ledger, kept
    imports.py                 CSV import jobs: dedup, TransactionChanged through the outbox; ImportRunner
"""

from .context import Deps

__all__ = ["Deps"]
