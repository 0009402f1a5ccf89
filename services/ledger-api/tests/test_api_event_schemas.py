"""The published contracts: docs/events holds what ledger-api's CategoryOverridden model generates, and
the SyncRequested it publishes is exactly the type link-svc's schema describes (the sync-worker reads it)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from ledger_api.domain import events, schemas

DOCS = Path(__file__).resolve().parents[3] / "docs" / "events"


@pytest.mark.parametrize("event_type", sorted(schemas.PUBLISHED))
def test_committed_schema_matches_the_model(event_type: str) -> None:
    path = DOCS / f"{event_type}.schema.json"
    assert path.exists(), f"run: uv run python -m ledger_api.domain.schemas docs/events ({path} missing)"
    assert path.read_text() == schemas.render(event_type), (
        f"{path.name} is stale: regenerate with `uv run python -m ledger_api.domain.schemas docs/events`"
    )


def test_category_overridden_validates_and_refuses_extra_fields() -> None:
    schema = json.loads((DOCS / f"{events.CATEGORY_OVERRIDDEN}.schema.json").read_text())
    payload = events.CategoryOverridden(
        user_id="alice",
        transaction_id="t1",
        account_id="a1",
        item_id="i1",
        category=events.OverriddenCategory(primary="FOOD_AND_DRINK", detailed="FOOD_AND_DRINK_COFFEE"),
        previous=events.PreviousCategory(
            primary="FOOD_AND_DRINK", detailed="FOOD_AND_DRINK_GROCERIES", source="learned"
        ),
        merchant_name="Starbucks",
        name="STARBUCKS 1234",
        original_description=None,
        amount=4.5,
        iso_currency_code="USD",
        overridden_at=datetime.now(UTC),
    ).model_dump(mode="json")
    jsonschema.validate(payload, schema)
    jsonschema.validate({**payload, "category": None, "previous": None}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**payload, "confidence": 1.0}, schema)


def test_our_sync_requested_is_the_one_link_svc_publishes() -> None:
    theirs = json.loads((DOCS / f"{events.SYNC_REQUESTED}.schema.json").read_text())
    ours = events.SyncRequested.model_json_schema()
    assert ours["properties"] == theirs["properties"]
    assert ours["required"] == theirs["required"]
    payload = events.SyncRequested(
        user_id="alice", item_id="i1", requested_by="alice", refresh=True, requested_at=datetime.now(UTC)
    ).model_dump(mode="json")
    jsonschema.validate(payload, theirs)
    # from_scratch is optional: an event written before it existed still validates, and so does a resync
    jsonschema.validate({k: v for k, v in payload.items() if k != "from_scratch"}, theirs)
    jsonschema.validate({**payload, "from_scratch": True}, theirs)
