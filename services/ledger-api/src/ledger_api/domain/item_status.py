"""What an Item's status means for the ledger's readers.

`needs_repair` is true when the user must act (Link's update mode) for the Item to keep or regain
access: login_required, permission_revoked, error (link-svc moves an Item to `error` only for Plaid
errors a relink fixes: INVALID_ACCESS_TOKEN, ITEM_LOCKED, NO_ACCOUNTS, ...) and pending_expiration:
the Item still syncs, but its consent ends soon and only the user can renew it, so the product shows the
"reconnect" prompt before it breaks. good, removed and any status this reader does not know: false.
"""

REPAIR_STATUSES = frozenset({"login_required", "pending_expiration", "permission_revoked", "error"})


def needs_repair(status: str) -> bool:
    return status in REPAIR_STATUSES
