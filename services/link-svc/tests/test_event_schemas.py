"""The published contract: docs/events/*.schema.json equal what link-svc's payload models generate."""

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
import yaml
from link_svc.domain import events, schemas
from link_svc.domain.item_state import ItemStatus

DOCS = Path(__file__).resolve().parents[3] / "docs" / "events"


@pytest.mark.parametrize("event_type", sorted(schemas.PUBLISHED))
def test_committed_schema_matches_the_model(event_type: str) -> None:
    path = DOCS / f"{event_type}.schema.json"
    assert path.exists(), f"run: uv run python -m link_svc.domain.schemas docs/events ({path} missing)"
    assert path.read_text() == schemas.render(event_type), (
        f"{path.name} is stale: regenerate with `uv run python -m link_svc.domain.schemas docs/events`"
    )


def test_a_published_event_validates_and_extra_fields_such_as_a_token_are_refused() -> None:
    schema = json.loads((DOCS / f"{events.ITEM_LINKED}.schema.json").read_text())
    payload = events.ItemLinked(
        user_id="u",
        item_id="i",
        institution_id="ins_109508",
        institution_name="First Platypus Bank",
        status="good",
        accounts=[events.Account(account_id="a", name="Checking", mask="0000", type="depository")],
        linked_at=datetime.now(UTC),
    ).model_dump(mode="json")
    jsonschema.validate(payload, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**payload, "access_token": "access-sandbox-x"}, schema)
    with pytest.raises(ValueError, match="access_token"):
        events.ItemLinked.model_validate({**payload, "access_token": "access-sandbox-x"})


def test_webhook_bodies_lose_every_credential_field_at_any_depth() -> None:
    body = {
        "webhook_type": "LINK",
        "webhook_code": "SESSION_FINISHED",
        "public_token": "public-sandbox-x",
        "public_tokens": ["public-sandbox-y"],
        "nested": [{"access_token": "access-sandbox-z", "ok": 1}],
    }
    assert events.scrub_webhook_body(body) == {
        "webhook_type": "LINK",
        "webhook_code": "SESSION_FINISHED",
        "nested": [{"ok": 1}],
    }


def test_the_item_status_is_published_as_an_enum_in_the_schema_and_the_asyncapi_document() -> None:
    schema = json.loads((DOCS / f"{events.ITEM_STATUS_CHANGED}.schema.json").read_text())
    statuses = [s.value for s in ItemStatus]
    assert schema["$defs"]["ItemStatus"]["enum"] == statuses
    for field in ("status", "previous_status"):
        assert schema["properties"][field]["$ref"] == "#/$defs/ItemStatus"
    asyncapi = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert asyncapi["components"]["schemas"]["ItemStatus"]["enum"] == statuses
    changed = events.ItemStatusChanged(
        user_id="u",
        item_id="i",
        status=ItemStatus.PERMISSION_REVOKED,
        previous_status=ItemStatus.GOOD,
        trigger="webhook",
        changed_at=datetime.now(UTC),
    ).model_dump(mode="json")
    jsonschema.validate(changed, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**changed, "status": "revoked"}, schema)
