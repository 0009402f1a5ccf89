"""JSON Schema of every event link-svc publishes, generated from the payload models.

`python -m link_svc.domain.schemas docs/events` writes one file per event type; a test checks that the
committed files equal what the models generate, so the published contract cannot drift from the code.
"""

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from . import events

PUBLISHED: dict[str, tuple[type[BaseModel], str, str]] = {
    events.ITEM_LINKED: (events.ItemLinked, events.TOPIC_ITEMS, "item_id"),
    events.ITEM_REMOVED: (events.ItemRemoved, events.TOPIC_ITEMS, "item_id"),
    events.ITEM_STATUS_CHANGED: (events.ItemStatusChanged, events.TOPIC_ITEMS, "item_id"),
    events.WEBHOOK_RECEIVED: (events.WebhookReceived, events.TOPIC_PLAID_WEBHOOKS, "item_id"),
    events.SYNC_REQUESTED: (events.SyncRequested, events.TOPIC_SYNC_REQUESTS, "item_id"),
}


def schema_for(event_type: str) -> dict[str, Any]:
    model, topic, key = PUBLISHED[event_type]
    schema = model.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://bankstream.dev/schemas/{event_type}.json",
        "title": event_type,
        "description": (
            f"The `data` of a CloudEvents envelope of type `{event_type}` (source `{events.SOURCE}`), "
            f"published on `{topic}` with the record key = `{key}`. " + (model.__doc__ or "").strip()
        ),
        "x-bankstream": {"topic": topic, "key": key, "type": event_type, "producer": "link-svc"},
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def render(event_type: str) -> str:
    return json.dumps(schema_for(event_type), indent=2, sort_keys=True) + "\n"


def write_all(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type in PUBLISHED:
        path = folder / f"{event_type}.schema.json"
        path.write_text(render(event_type))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/events")):
        print(p)
