"""docs/events holds one contract: the AsyncAPI document, the envelope schema and one schema per event type.

The per-type schemas are checked against the producers' models by each service's own tests; this checks
that the pieces fit together and that nothing is published without being documented.
"""

import json
from pathlib import Path

import yaml
from bankstream_common.envelope import Envelope

DOCS = Path(__file__).parents[1] / "docs" / "events"
ASYNCAPI = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())


def test_envelope_schema_is_the_envelope_model() -> None:
    published = json.loads((DOCS / "envelope.schema.json").read_text())
    generated = Envelope.model_json_schema()
    assert published["properties"] == generated["properties"]
    assert published["required"] == generated["required"]
    assert published["additionalProperties"] is False


def test_every_message_points_at_an_existing_schema_of_its_own_type() -> None:
    for key, message in ASYNCAPI["components"]["messages"].items():
        ref = message["payload"]["$ref"]
        assert ref == f"{message['name']}.schema.json", key
        assert (DOCS / ref).is_file(), f"{ref} is missing"
        json.loads((DOCS / ref).read_text())


def test_every_schema_file_is_a_documented_message() -> None:
    documented = {m["payload"]["$ref"] for m in ASYNCAPI["components"]["messages"].values()}
    files = {p.name for p in DOCS.glob("*.schema.json")} - {"envelope.schema.json"}
    assert files == documented


def test_every_channel_and_operation_resolves() -> None:
    messages = ASYNCAPI["components"]["messages"]
    channels = ASYNCAPI["channels"]
    for name, channel in channels.items():
        assert channel["address"].startswith("bankstream."), name
        assert "Key = " in channel["description"], f"{name} must say what its record key is"
        for ref in channel["messages"].values():
            assert ref["$ref"].removeprefix("#/components/messages/") in messages
    for op in ASYNCAPI["operations"].values():
        assert op["channel"]["$ref"].removeprefix("#/channels/") in channels
