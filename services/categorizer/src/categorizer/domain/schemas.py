"""JSON Schema of the event categorizer publishes, and of the one it defines as consumer (CategoryOverridden),
generated from the models.

`python -m categorizer.domain.schemas docs/events` writes the files; a test checks that the committed
files equal what the models generate, so the contracts cannot drift from the code.
"""

from bankstream_common.contracts import EventCatalog, Published

from . import events

PUBLISHED: Published = {
    events.TRANSACTION_CATEGORIZED: (events.TransactionCategorized, events.TOPIC_CATEGORIZED, "account_id"),
}
CONSUMED_CONTRACTS: Published = {
    events.CATEGORY_OVERRIDDEN: (events.CategoryOverridden, events.TOPIC_OVERRIDES, "user_id"),
}
CATALOG = EventCatalog("categorizer", events.SOURCE, PUBLISHED)
OVERRIDES = EventCatalog("ledger-api", "bankstream/ledger-api", CONSUMED_CONTRACTS)


def render(event_type: str) -> str:
    return (CATALOG if event_type in PUBLISHED else OVERRIDES).render(event_type)


if __name__ == "__main__":
    CATALOG.main()
    OVERRIDES.main()
