"""What a CSV import emits: each new row as a TransactionChanged (`change: added`), the contract the
sync-worker publishes for Plaid's transactions (docs/events/bankstream.transaction.changed.v1.schema.json),
so the categorizer enriches it on the same path and the ledger projects its TransactionCategorized like
any other (ADR 0013). Published on `bankstream.imported-transactions`, key account_id, source
`bankstream/ledger-api`.

    transaction_id   "csv_" + 32 hex digits of SHA-256 over the account and the bank's id of the line
                     when the layout has one, else over (date, amount, normalized description, and how
                     many identical lines came before it in the file): the same file gives the same ids
    run_id           the import's id;  position: the data line's index in the file (0 = the first)
    sync_sequence    the physical line number (>= 1): an import's own order, not the Item's sync sequence
"""

import hashlib
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic_core import to_json

from .csv_layouts import Row
from .matching import normalize

SOURCE = "bankstream/ledger-api"
TOPIC_IMPORTED = "bankstream.imported-transactions"
TRANSACTION_CHANGED = "bankstream.transaction.changed.v1"
ID_PREFIX = "csv_"


def transaction_ids(
    account_id: str, rows: Iterable[Row], seen: Counter[tuple[Any, ...]] | None = None
) -> list[str]:
    """Each row's id, in file order (identical lines are told apart by their rank). `seen` counts the
    identical lines met before these (the file's earlier lines, when it is read in parts), and is updated."""
    seen = Counter() if seen is None else seen
    ids = []
    for row in rows:
        if row.imported_id:
            key = f"{account_id}\x1fid\x1f{row.imported_id}"
        else:
            body = (row.day, row.amount, normalize(row.description))
            rank = seen[body]
            seen[body] += 1
            key = f"{account_id}\x1f{body[0].isoformat()}\x1f{body[1]}\x1f{body[2]}\x1f{rank}"
        ids.append(ID_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:32])
    return ids


def changed_data(
    row: Row,
    transaction_id: str,
    *,
    account_id: str,
    item_id: str,
    currency: str | None,
    import_id: str,
    position: int,
) -> dict[str, Any]:
    """TransactionChanged's `data` for a new row: only fields of that contract (a test holds it to
    the schema)."""
    return {
        "change": "added",
        "item_id": item_id,
        "sync_sequence": row.line,
        "run_id": import_id,
        "position": position,
        "transaction_id": transaction_id,
        "account_id": account_id,
        "pending": False,
        "pending_transaction_id": None,
        "amount": float(row.amount),
        "iso_currency_code": currency,
        "date": row.day.isoformat(),
        "name": row.description,
        "original_description": row.description,
    }


def envelope_json(event_id: uuid.UUID, data: dict[str, Any], time: str) -> bytes:
    """The envelope in exactly `Envelope`'s shape, serialized from the dict (a test holds the two
    together)."""
    return to_json(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": SOURCE,
            "type": TRANSACTION_CHANGED,
            "time": time,
            "subject": data["transaction_id"],
            "datacontenttype": "application/json",
            "data": data,
        }
    )
