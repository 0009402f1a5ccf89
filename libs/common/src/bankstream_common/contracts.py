"""Published event contracts: the JSON Schema of each event type's `data`, generated from the producer's
payload models and committed under docs/events, so the contract cannot drift from the code (each producer
has a test comparing the committed files with what its models generate).

    CATALOG = EventCatalog("link-svc", "bankstream/link-svc",
                           {"bankstream.item.linked.v1": (ItemLinked, "bankstream.items", "item_id")})
    python -m link_svc.domain.schemas docs/events      # CATALOG.main(): rewrite the files
"""

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

# event type -> (payload model, topic, what the Kafka record key is)
Published = Mapping[str, tuple[type[BaseModel], str, str]]


class EventCatalog:
    def __init__(self, producer: str, source: str, published: Published) -> None:
        self.producer, self.source, self.published = producer, source, published

    def schema_for(self, event_type: str) -> dict[str, Any]:
        model, topic, key = self.published[event_type]
        schema = model.model_json_schema()
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://bankstream.dev/schemas/{event_type}.json",
            "title": event_type,
            "description": (
                f"The `data` of a CloudEvents envelope of type `{event_type}` (source `{self.source}`), "
                f"published on `{topic}` with the record key = `{key}`. " + (model.__doc__ or "").strip()
            ),
            "x-bankstream": {"topic": topic, "key": key, "type": event_type, "producer": self.producer},
            **{k: v for k, v in schema.items() if k not in ("title", "description")},
        }

    def render(self, event_type: str) -> str:
        return json.dumps(self.schema_for(event_type), indent=2, sort_keys=True) + "\n"

    def write_all(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for event_type in self.published:
            path = folder / f"{event_type}.schema.json"
            path.write_text(self.render(event_type))
            written.append(path)
        return written

    def main(self, argv: Sequence[str] | None = None) -> None:
        args = list(sys.argv[1:] if argv is None else argv)
        for path in self.write_all(Path(args[0] if args else "docs/events")):
            print(path)
