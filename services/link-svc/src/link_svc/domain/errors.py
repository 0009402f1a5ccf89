"""Everything link-svc can refuse or fail at, as one hierarchy; entrypoints alone turn it into HTTP.

    LinkServiceError
     ├── ItemNotFound              no such Item (or not visible to this caller)
     ├── ItemGone                  the Item was removed; nothing more can happen to it
     ├── DuplicateItem             same user, same institution, overlapping accounts: `existing_item_id`
     ├── ItemAlreadyLinked         Plaid's exchange named an Item already stored (409)
     ├── ItemSetupPending          an exchanged Item kept, its set-up to finish in the background (503)
     ├── InvalidRequest            a request the domain refuses (e.g. update mode without a reason)
     ├── VaultError                the token vault cannot do what was asked; never carries a token
     │    ├── VaultKeyMissing      a row (or the active key) names a key id that is not configured
     │    └── VaultKeyMismatch     the key id is known but decryption fails authentication
     ├── WebhookRejected           a Plaid webhook that does not verify; `reason` is a small enum
     └── PlaidError                Plaid said no, or was unreachable (translated in adapters/plaid_client)
          ├── PlaidUnavailable     network failure, timeout, 5xx, rate limit, the institution not
          │                        responding or down (TRANSIENT_CODES): may pass, retry later;
          │                        `outcome_unknown` when Plaid may have carried the request out
          ├── ExchangeOutcomeUnknown  the exchange's answer was lost: the public token may be spent (502)
          └── PlaidRequestFailed   a 4xx with Plaid's `error_type` / `error_code` / `request_id`

Refusing a caller (no valid token: NotAuthenticated; no scope: NotAllowed) is bankstream_common.auth's,
shared by every API. No message ever contains an access token, public token, link token, client secret or JWT.
"""

from typing import Any


class LinkServiceError(Exception):
    """Base of every error link-svc raises on purpose."""


class ItemNotFound(LinkServiceError):
    def __init__(self, item_id: str) -> None:
        super().__init__(f"item {item_id} not found")
        self.item_id = item_id


class ItemGone(LinkServiceError):
    def __init__(self, item_id: str) -> None:
        super().__init__(f"item {item_id} was removed")
        self.item_id = item_id


class DuplicateItem(LinkServiceError):
    def __init__(self, existing_item_id: str, institution_id: str) -> None:
        super().__init__(
            f"this institution ({institution_id}) is already linked with overlapping accounts "
            f"as item {existing_item_id}; repair it with update mode instead of linking again"
        )
        self.existing_item_id = existing_item_id
        self.institution_id = institution_id


class ItemAlreadyLinked(LinkServiceError):
    """Plaid's exchange named an Item bankstream already holds (e.g. the public token of an update-mode
    session): nothing new to store, and the Item must NOT be removed at Plaid as an unstored one would."""

    def __init__(self, item_id: str, *, owned: bool) -> None:
        super().__init__(
            f"item {item_id} is already linked; update mode needs no exchange"
            if owned
            else "this public token names an item that is already linked"
        )
        self.existing_item_id = item_id if owned else None


class ItemSetupPending(LinkServiceError):
    """Plaid kept failing transiently after the exchange: the Item is kept (Plaid bills it) and its set-up
    finishes in the background; the same request again, after `retry_after` seconds, answers with it."""

    def __init__(self, item_id: str, *, retry_after: int, error_code: str | None) -> None:
        super().__init__(
            f"item {item_id} is linked at Plaid but its set-up is not finished (Plaid: {error_code}); "
            "it finishes in the background: send the same request again later"
        )
        self.item_id = item_id
        self.retry_after = retry_after
        self.error_code = error_code


class InvalidRequest(LinkServiceError):
    pass


class VaultError(LinkServiceError):
    pass


class VaultKeyMissing(VaultError):
    pass


class VaultKeyMismatch(VaultError):
    pass


class WebhookRejected(LinkServiceError):
    """`reason` is one of a few fixed strings, used as a metric label."""

    REASONS = frozenset(
        {
            "missing_header",
            "malformed",
            "bad_alg",
            "unknown_kid",
            "expired_key",
            "bad_signature",
            "stale",
            "body_mismatch",
            "key_unavailable",
            "key_fetch_throttled",
        }
    )

    def __init__(self, reason: str) -> None:
        assert reason in self.REASONS, reason
        super().__init__(f"webhook rejected: {reason}")
        self.reason = reason


class PlaidError(LinkServiceError):
    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status: int | None = None,
        error_type: str | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
        display_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status
        self.error_type = error_type
        self.error_code = error_code
        self.request_id = request_id
        self.display_message = display_message


class PlaidUnavailable(PlaidError):
    """`outcome_unknown`: the request may have reached Plaid and been carried out, its answer lost (a
    timeout or a connection lost after sending, a 5xx); False only when Plaid certainly did not act on it
    (no connection made, 429, an institution code). A retry is safe then, or when the call is idempotent."""

    def __init__(self, message: str, *, outcome_unknown: bool = False, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.outcome_unknown = outcome_unknown


class ExchangeOutcomeUnknown(PlaidError):
    """The public token exchange reached Plaid but its answer was lost. A public token is single-use: if
    Plaid did exchange it, any retry is refused INVALID_PUBLIC_TOKEN and the Item lives on at Plaid,
    unknown here. So it is not retried; the user links again."""


# Plaid's 4xx codes that are not the request's fault and pass by themselves (also 429 and every 5xx)
TRANSIENT_CODES = frozenset({"INSTITUTION_NOT_RESPONDING", "INSTITUTION_DOWN", "PLANNED_MAINTENANCE"})


class PlaidRequestFailed(PlaidError):
    pass
