"""The published contract: docs/events/*.schema.json equal what the payload models generate."""

import json
from pathlib import Path

import jsonschema
import pytest
from sync_worker.domain import events, schemas

DOCS = Path(__file__).resolve().parents[3] / "docs" / "events"


@pytest.mark.parametrize("event_type", sorted(schemas.PUBLISHED))
def test_committed_schema_matches_the_model(event_type: str) -> None:
    path = DOCS / f"{event_type}.schema.json"
    assert path.exists(), f"run: uv run python -m sync_worker.domain.schemas docs/events ({path} missing)"
    assert path.read_text() == schemas.render(event_type), (
        f"{path.name} is stale: regenerate with `uv run python -m sync_worker.domain.schemas docs/events`"
    )


def test_a_published_event_validates_against_its_schema_and_extra_fields_are_refused() -> None:
    payload = events.TransactionChanged(
        item_id="item",
        sync_sequence=1,
        run_id="run",
        position=0,
        change="removed",
        transaction_id="t",
        account_id="a",
    ).model_dump(mode="json")
    jsonschema.validate(payload, json.loads((DOCS / f"{events.TRANSACTION_CHANGED}.schema.json").read_text()))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**payload, "surprise": 1},
            json.loads((DOCS / f"{events.TRANSACTION_CHANGED}.schema.json").read_text()),
        )
