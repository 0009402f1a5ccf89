"""JSON Schema of every event sync-worker publishes, generated from the payload models.

`python -m sync_worker.domain.schemas docs/events` writes one file per event type; a test checks that the
committed files equal what the models generate, so the published contract cannot drift from the code.
"""

from bankstream_common.contracts import EventCatalog, Published

from . import events

PUBLISHED: Published = {
    events.TRANSACTION_CHANGED: (events.TransactionChanged, events.TRANSACTIONS_TOPIC, "account_id"),
    events.ACCOUNT_UPDATED: (events.AccountUpdated, events.ACCOUNTS_TOPIC, "account_id"),
    events.SYNC_COMPLETED: (events.SyncCompleted, events.SYNC_RUNS_TOPIC, "item_id"),
    events.SYNC_FAILED: (events.SyncFailed, events.SYNC_RUNS_TOPIC, "item_id"),
}
CATALOG = EventCatalog("sync-worker", events.SOURCE, PUBLISHED)
schema_for, render, write_all = CATALOG.schema_for, CATALOG.render, CATALOG.write_all

if __name__ == "__main__":
    CATALOG.main()
