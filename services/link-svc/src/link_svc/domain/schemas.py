"""JSON Schema of every event link-svc publishes, generated from the payload models.

`python -m link_svc.domain.schemas docs/events` writes one file per event type; a test checks that the
committed files equal what the models generate, so the published contract cannot drift from the code.
"""

from bankstream_common.contracts import EventCatalog, Published

from . import events

PUBLISHED: Published = {
    events.ITEM_LINKED: (events.ItemLinked, events.TOPIC_ITEMS, "item_id"),
    events.ITEM_REMOVED: (events.ItemRemoved, events.TOPIC_ITEMS, "item_id"),
    events.ITEM_STATUS_CHANGED: (events.ItemStatusChanged, events.TOPIC_ITEMS, "item_id"),
    events.WEBHOOK_RECEIVED: (events.WebhookReceived, events.TOPIC_PLAID_WEBHOOKS, "item_id"),
    events.SYNC_REQUESTED: (events.SyncRequested, events.TOPIC_SYNC_REQUESTS, "item_id"),
}
CATALOG = EventCatalog("link-svc", events.SOURCE, PUBLISHED)
schema_for, render, write_all = CATALOG.schema_for, CATALOG.render, CATALOG.write_all

if __name__ == "__main__":
    CATALOG.main()
