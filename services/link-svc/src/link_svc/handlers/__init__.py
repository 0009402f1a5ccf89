"""link-svc's handlers: one function per command or event, taking what bootstrap() wired (`Deps`).

Each command checks the caller (scope, ownership), does its Plaid calls outside any transaction, then
writes its rows and the events describing them in ONE transaction (the outbox). Plaid is never called
while a row lock is held, except to undo an exchange that lost a race (see `link.exchange_public_token`).

    link.py      create_link_token, create_update_link_token, exchange_public_token, record_link_session
    items.py     list_items, get_item, update_mode_completed, remove_item, request_sync
    ingress.py   receive_webhook, on_sync_failed, release_access_token
"""

from .context import Deps

__all__ = ["Deps"]
