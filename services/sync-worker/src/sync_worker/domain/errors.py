"""What can go wrong in a sync run, as one hierarchy; adapters translate library errors into it.

    SyncError
     ├── ItemNeedsAttention        the user must act (ITEM_LOGIN_REQUIRED, INVALID_ACCESS_TOKEN,
     │                             ITEM_NOT_FOUND, USER_PERMISSION_REVOKED, ...): stop syncing the Item,
     │                             publish SyncFailed (link-svc changes its status), wait for a repair
     ├── ItemUnknown               link-svc has no access token for the Item (404): it was removed
     ├── MutationDuringPagination  the Item changed while we paged: restart the loop from its start cursor
     ├── RetryableError            the world is briefly wrong; retried with backoff, a bounded number of times
     │    ├── RateLimited          HTTP 429 / RATE_LIMIT_EXCEEDED (per-Item limits): back off with jitter
     │    ├── PlaidUnavailable     INSTITUTION_DOWN / _NOT_RESPONDING, PLANNED_MAINTENANCE, 5xx, timeouts
     │    └── TokenProviderUnavailable   link-svc did not answer
     └── PlaidRequestRejected      any other Plaid error (bad keys, invalid request): a defect or a
                                   misconfiguration; the run fails, not retried

Every error carries the Plaid `error_code` / `error_type` (or our own code when Plaid is not involved),
which go into SyncFailed, the run history and the metrics' `error_code` label.
"""


class SyncError(Exception):
    """A sync run could not finish. `retryable` tells the scheduler whether another attempt may help."""

    retryable = False

    def __init__(self, error_code: str, error_type: str, message: str = "") -> None:
        super().__init__(f"{error_type}/{error_code}: {message}" if message else f"{error_type}/{error_code}")
        self.error_code = error_code
        self.error_type = error_type


class ItemNeedsAttention(SyncError):
    """The Item cannot be synced until its user acts in Link (update mode) or it is relinked."""


class ItemUnknown(SyncError):
    """No access token exists for the Item any more: it was removed (or never linked)."""


class MutationDuringPagination(SyncError):
    """TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION: the whole pagination loop must restart. Restarted in
    the run (after a backoff) a bounded number of times; a run whose restarts ran out is retried later like
    any retryable failure (the data settles between runs)."""

    retryable = True


class PlaidRequestRejected(SyncError):
    """A Plaid error that retrying cannot fix."""


class RetryableError(SyncError):
    retryable = True


class RateLimited(RetryableError):
    """Over one of Plaid's per-Item (or per-client) limits."""


class PlaidUnavailable(RetryableError):
    """The institution or Plaid itself is down or slow; it usually passes."""


class TokenProviderUnavailable(RetryableError):
    """link-svc could not be asked for the access token."""


NEEDS_ATTENTION_CODES = frozenset(
    {
        "ITEM_LOGIN_REQUIRED",
        "INVALID_ACCESS_TOKEN",
        "ITEM_NOT_FOUND",
        "USER_PERMISSION_REVOKED",
        "ACCESS_NOT_GRANTED",
        "ITEM_LOCKED",
        "ITEM_NOT_SUPPORTED",
        "NO_ACCOUNTS",
        "USER_SETUP_REQUIRED",
        "MFA_NOT_SUPPORTED",
    }
)
UNAVAILABLE_CODES = frozenset(
    {
        "INSTITUTION_DOWN",
        "INSTITUTION_NOT_RESPONDING",
        "INSTITUTION_NOT_AVAILABLE",
        "PLANNED_MAINTENANCE",
        "INTERNAL_SERVER_ERROR",
        "PRODUCT_NOT_READY",
    }
)
MUTATION_CODE = "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"


def classify(status: int, error_type: str, error_code: str, message: str = "") -> SyncError:
    """The error a Plaid answer (HTTP status plus its PlaidError body) stands for."""
    if error_code == MUTATION_CODE:
        return MutationDuringPagination(error_code, error_type, message)
    if status == 429 or error_type == "RATE_LIMIT_EXCEEDED":
        return RateLimited(error_code, error_type or "RATE_LIMIT_EXCEEDED", message)
    if error_code in NEEDS_ATTENTION_CODES:
        return ItemNeedsAttention(error_code, error_type, message)
    if error_code in UNAVAILABLE_CODES or error_type in ("INSTITUTION_ERROR", "API_ERROR") or status >= 500:
        return PlaidUnavailable(error_code or f"HTTP_{status}", error_type or "API_ERROR", message)
    return PlaidRequestRejected(error_code or f"HTTP_{status}", error_type or "UNKNOWN", message)
