"""The contracts: docs/events' TransactionCategorized equals what categorizer's model generates, and the
readers of the events it consumes take what their producers' published schemas allow."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import msgspec
import pytest
from bankstream_common.envelope import Envelope
from categorizer.domain import events, schemas
from categorizer.handlers import stream

DOCS = Path(__file__).resolve().parents[3] / "docs" / "events"


@pytest.mark.parametrize("event_type", sorted(schemas.PUBLISHED))
def test_committed_schema_matches_the_model(event_type: str) -> None:
    path = DOCS / f"{event_type}.schema.json"
    assert path.exists(), f"run: uv run python -m categorizer.domain.schemas docs/events ({path} missing)"
    assert path.read_text() == schemas.render(event_type), (
        f"{path.name} is stale: regenerate with `uv run python -m categorizer.domain.schemas docs/events`"
    )


def test_a_categorized_event_validates_and_unknown_fields_are_refused() -> None:
    schema = json.loads((DOCS / f"{events.TRANSACTION_CATEGORIZED}.schema.json").read_text())
    payload = events.TransactionCategorized(
        change="added",
        transaction_id="t",
        account_id="a",
        item_id="i",
        user_id=None,
        version=1,
        sync_sequence=1,
        caused_by="e",
        transaction=events.TransactionState(transaction_id="t", account_id="a", amount=5.25, name="SQ *BLUE"),
        category=events.Category(
            primary="OTHER",
            detailed="OTHER_OTHER",
            source="fallback",
            confidence=0.0,
            decided_by="fallback",
            needs_review=True,
        ),
        decided_at=datetime.now(UTC),
    ).model_dump(mode="json")
    jsonschema.validate(payload, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**payload, "extra": 1}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**payload, "version": 0}, schema)


def test_the_override_contract_refuses_a_missing_field_and_the_reader_tolerates_new_ones() -> None:
    schema = json.loads((DOCS / f"{events.CATEGORY_OVERRIDDEN}.schema.json").read_text())
    payload = {
        "user_id": "u",
        "transaction_id": "t",
        "account_id": "a",
        "item_id": "i",
        "category": {"primary": "FOOD_AND_DRINK", "detailed": "FOOD_AND_DRINK_COFFEE"},
        "previous": {"primary": "OTHER", "detailed": "OTHER_OTHER", "source": "fallback"},
        "merchant_name": None,
        "name": "SQ *BLUE BOTTLE",
        "original_description": None,
        "amount": 5.25,
        "iso_currency_code": "USD",
        "overridden_at": "2026-11-29T10:00:00Z",
    }
    jsonschema.validate(payload, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in payload.items() if k != "overridden_at"}, schema)
    assert events.CategoryOverriddenIn.model_validate({**payload, "new_field": 1}).user_id == "u"


def test_the_reader_of_transaction_changed_takes_what_the_producers_schema_allows() -> None:
    """Tested against sync-worker's published contract (docs/events), not a copy of its model."""
    schema = json.loads((DOCS / "bankstream.transaction.changed.v1.schema.json").read_text())
    full = {
        "item_id": "i",
        "sync_sequence": 7,
        "run_id": "r",
        "position": 0,
        "change": "added",
        "transaction_id": "t",
        "account_id": "a",
        "pending": False,
        "pending_transaction_id": None,
        "amount": 5.25,
        "iso_currency_code": "USD",
        "unofficial_currency_code": None,
        "date": "2026-11-20",
        "authorized_date": "2026-11-19",
        "datetime": "2026-11-20T10:00:00Z",
        "authorized_datetime": None,
        "name": "SQ *BLUE BOTTLE COFF",
        "merchant_name": "Blue Bottle Coffee",
        "merchant_entity_id": "m1",
        "original_description": None,
        "personal_finance_category": {
            "primary": "FOOD_AND_DRINK",
            "detailed": "FOOD_AND_DRINK_COFFEE",
            "confidence_level": "VERY_HIGH",
            "version": "v2",
        },
        "payment_channel": "in store",
        "transaction_code": None,
        "check_number": None,
        "location": {"city": "Oakland", "region": "CA"},
        "payment_meta": {"payee": None},
        "counterparties": [{"name": "Blue Bottle", "type": "merchant", "confidence_level": "HIGH"}],
        "website": "bluebottlecoffee.com",
        "logo_url": None,
    }
    jsonschema.validate(full, schema)
    read = msgspec.convert(full, events.TransactionChangedIn)
    state = json.loads(read.state_json())
    assert set(state) == set(full) - {"item_id", "sync_sequence", "run_id", "position", "change"}
    assert events.TransactionState.model_validate(state).model_dump(mode="json") == state
    removed = {
        k: full[k] for k in ("item_id", "sync_sequence", "run_id", "position", "transaction_id", "account_id")
    }
    removed["change"] = "removed"
    jsonschema.validate(removed, schema)
    assert msgspec.convert(removed, events.TransactionChangedIn).change == "removed"


def test_the_streams_hand_built_envelope_is_byte_for_byte_the_envelope_model() -> None:
    """The stream serialises its TransactionCategorized straight from dicts (its hot path): the bytes must
    be what `Envelope` itself writes for the same event, and its data a valid TransactionCategorized."""
    event_id, now = uuid.uuid4(), datetime.now(UTC)
    data = {
        "change": "added",
        "transaction_id": "t",
        "account_id": "a",
        "item_id": "i",
        "user_id": None,
        "version": 2,
        "sync_sequence": 7,
        "caused_by": str(uuid.uuid4()),
        "transaction": {"transaction_id": "t", "account_id": "a", "amount": 5.25, "name": "SQ *BLUE"},
        "category": {
            "primary": "OTHER",
            "detailed": "OTHER_OTHER",
            "source": "fallback",
            "confidence": 0.0,
            "decided_by": "fallback",
            "needs_review": True,
            "merchant": None,
        },
        "decided_at": now.isoformat(),
    }
    built, model = _built_and_model(event_id, now, data, data)
    assert built == model.to_json()
    parsed = Envelope.from_json(built)
    assert parsed == model
    events.TransactionCategorized.model_validate(parsed.data)


def test_the_stream_embeds_the_state_it_serialized_once_as_the_envelope_model_would_write_it() -> None:
    """The stream's output carries the state as `msgspec.Raw` (the bytes it also stores): the envelope must
    be what `Envelope` writes for the same event with the state as a dict."""
    changed = msgspec.convert(
        {"change": "added", "item_id": "i", "sync_sequence": 3, "transaction_id": "t", "account_id": "a",
         "amount": 5, "date": "2026-11-20", "datetime": "2026-11-20T10:00:00.5+02:00", "name": "CAFÉ \u2028",
         "location": {"city": "Oakland"}, "counterparties": [{"name": "x"}]},
        events.TransactionChangedIn,
    )  # fmt: skip
    event_id, now = uuid.uuid4(), datetime.now(UTC)
    data = {"change": "added", "transaction_id": "t", "account_id": "a", "item_id": "i", "user_id": "u",
            "version": 1, "sync_sequence": 3, "caused_by": str(uuid.uuid4()), "category": None,
            "transaction": msgspec.Raw(changed.state_json()), "decided_at": now.isoformat()}  # fmt: skip
    built, model = _built_and_model(
        event_id, now, data, {**data, "transaction": json.loads(changed.state_json())}
    )
    assert built == model.to_json()
    assert json.loads(changed.state_json())["amount"] == 5.0  # an int read as the state's float


def _built_and_model(
    event_id: uuid.UUID, now: datetime, data: dict[str, object], as_dicts: dict[str, object]
) -> tuple[bytes, Envelope]:
    """What the stream builds from `data`, and the Envelope model of the same event (`as_dicts`: `data`
    with only dicts in it)."""
    built = stream.envelope_json(event_id, data, now.isoformat().replace("+00:00", "Z"))
    model = Envelope(
        id=event_id, source=events.SOURCE, type=events.TRANSACTION_CATEGORIZED, time=now, subject="t",
        data=as_dicts,
    )  # fmt: skip
    return built, model
