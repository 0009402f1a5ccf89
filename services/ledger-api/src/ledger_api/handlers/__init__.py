"""ledger-api's handlers: one function per query or command, taking what bootstrap() wired (`Deps`).

Each one checks the caller (scope, acting user) first, then reads or writes through adapters; a command
writes its rows, its `changes` row and the events describing it in ONE transaction (the outbox).

    queries.py   list_transactions, get_transaction, list_items, list_accounts, balance_history
    edits.py     edit_transaction (PATCH: user edits + CategoryOverridden)
    feed.py      changes_page, stream (SSE), request_refresh (SyncRequested, rate-limited per Item)
"""

from .context import Deps

__all__ = ["Deps"]
