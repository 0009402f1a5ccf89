"""JSON Schema of the event categorizer publishes, generated from its model.

`python -m categorizer.domain.schemas docs/events` writes the file; a test checks that the committed file
equals what the model generates, so the contract cannot drift from the code. CategoryOverridden's schema is
its producer's (ledger-api); the categorizer's tests read that file as its consumer.
"""

from bankstream_common.contracts import EventCatalog, Published

from . import events

PUBLISHED: Published = {
    events.TRANSACTION_CATEGORIZED: (events.TransactionCategorized, events.TOPIC_CATEGORIZED, "account_id"),
}
CATALOG = EventCatalog("categorizer", events.SOURCE, PUBLISHED)


def render(event_type: str) -> str:
    return CATALOG.render(event_type)


if __name__ == "__main__":
    CATALOG.main()
