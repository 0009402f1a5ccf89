"""Everything ledger-api's read and edit API can refuse, as one hierarchy; entrypoints alone make it HTTP.

    LedgerError
     ├── NotFound                  no such entity, or not the caller's (the two are never told apart)
     │    ├── TransactionNotFound
     │    ├── AccountNotFound
     │    ├── ItemNotFound
     │    ├── ReconciliationNotFound
     │    └── ImportNotFound
     ├── InvalidQuery              a parameter value the API refuses (unknown category, inverted range, ...)
     ├── InvalidCursor             a cursor that is not one of ours, or was issued for another query
     ├── EditConflict              the edit cannot apply to this transaction as it stands
     │    ├── StaleEdit            If-Match names a version that is no longer current
     │    ├── TransactionSuperseded   a posted transaction replaced this pending one: edit `successor_id`
     │    └── TransactionRemoved   a removed (posted) transaction is history; it takes no edits
     ├── ItemGone                  the Item was removed: nothing can be asked of it
     ├── RateLimited               too soon after the last request of its kind; `retry_after` seconds
     └── TooManyStreams            every SSE slot of this process is taken; retry shortly

Refusing a caller (no valid token: NotAuthenticated; no scope, or a service token naming no user:
NotAllowed) is bankstream_common.auth's, shared by every API. Messages never echo a token.
"""


class LedgerError(Exception):
    """Base of every error ledger-api raises on purpose."""


class NotFound(LedgerError):
    kind = "entity"

    def __init__(self, entity_id: str) -> None:
        super().__init__(f"{self.kind} {entity_id} not found")
        self.entity_id = entity_id


class TransactionNotFound(NotFound):
    kind = "transaction"


class AccountNotFound(NotFound):
    kind = "account"


class ItemNotFound(NotFound):
    kind = "item"


class InvalidQuery(LedgerError):
    """`field` names the parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidCursor(LedgerError):
    pass


class EditConflict(LedgerError):
    pass


class StaleEdit(EditConflict):
    def __init__(self, current_etag: str) -> None:
        super().__init__("the transaction changed since you read it: GET it again and retry the edit")
        self.current_etag = current_etag


class TransactionSuperseded(EditConflict):
    def __init__(self, transaction_id: str, successor_id: str) -> None:
        super().__init__(
            f"pending transaction {transaction_id} was replaced by posted transaction {successor_id}, "
            "which carries your earlier edits: edit that one"
        )
        self.successor_id = successor_id


class TransactionRemoved(EditConflict):
    def __init__(self, transaction_id: str) -> None:
        super().__init__(f"transaction {transaction_id} was removed by the bank; it takes no edits")


class ItemGone(LedgerError):
    def __init__(self, item_id: str) -> None:
        super().__init__(f"item {item_id} was removed")


class RateLimited(LedgerError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyStreams(LedgerError):
    def __init__(self) -> None:
        super().__init__("too many open streams on this server: retry shortly, or poll GET /v1/changes")


class ReconciliationNotFound(NotFound):
    kind = "reconciliation"


class ImportNotFound(NotFound):
    kind = "import"
