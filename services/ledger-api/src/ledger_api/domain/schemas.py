"""JSON Schema of the event ledger-api owns, generated from its payload model.

`python -m ledger_api.domain.schemas docs/events` writes the file; a test checks the committed file equals
what the model generates. SyncRequested's schema is link-svc's (a test checks ours produces it).
"""

from bankstream_common.contracts import EventCatalog, Published

from . import events

PUBLISHED: Published = {
    events.CATEGORY_OVERRIDDEN: (events.CategoryOverridden, events.TOPIC_CATEGORY_OVERRIDES, "user_id"),
}
CATALOG = EventCatalog("ledger-api", events.SOURCE, PUBLISHED)
schema_for, render, write_all = CATALOG.schema_for, CATALOG.render, CATALOG.write_all

if __name__ == "__main__":
    CATALOG.main()
