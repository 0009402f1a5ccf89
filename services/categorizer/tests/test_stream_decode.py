"""The stream's decoder reads a TransactionChanged record in one pass (handlers.stream.decode); anything
else (other types, data that breaks the contract, another producer's formatting) decodes as the shared
Envelope does, so the tolerant reader and the dead-lettering stay as they were. What the stream then
stores and publishes as the transaction's state is the read model serialized: the state's fields only,
TransactionState's (the producer's model), in its order."""

import json
import typing

import msgspec
import pytest
from bankstream_common.envelope import Envelope, EnvelopeError
from categorizer.domain import events as ev
from categorizer.handlers.stream import decode
from pydantic_core import to_json

DATA = {
    "item_id": "item-1",
    "sync_sequence": 7,
    "run_id": "run-1",
    "position": 0,
    "change": "added",
    "transaction_id": "tx-1",
    "account_id": "acct-1",
    "amount": 5.25,
    "iso_currency_code": "USD",
    "date": "2026-11-20",
    "datetime": "2026-11-20T10:00:00Z",
    "name": "SQ *BLUE BOTTLE COFF",
    "personal_finance_category": {"primary": "FOOD_AND_DRINK", "detailed": "FOOD_AND_DRINK_COFFEE"},
    "location": {"city": "Oakland"},
}


def _event(**data: object) -> Envelope:
    return Envelope.new(
        source="bankstream/sync-worker", type=ev.TRANSACTION_CHANGED, subject="tx-1", data={**DATA, **data}
    )


def test_a_changed_record_is_read_once() -> None:
    event = decode(_event().to_json())
    assert isinstance(event, ev.ChangedEnvelope)
    assert isinstance(event.data, ev.TransactionChangedIn)
    assert (event.data.change, event.data.item_id, event.data.sync_sequence) == ("added", "item-1", 7)


def test_the_read_model_serializes_as_the_state_and_nothing_else() -> None:
    data = decode(_event().to_json()).data
    state = json.loads(data.state_json())
    assert list(state) == list(ev.TransactionState.model_fields)  # no change/item_id/sync_sequence/run_id
    # the producer's model reads it (extra fields forbidden) and writes the very same bytes
    assert to_json(ev.TransactionState.model_validate_json(data.state_json())) == data.state_json()
    assert {k: state[k] for k in ("amount", "date", "datetime", "name", "location")} == {
        k: DATA[k] for k in ("amount", "date", "datetime", "name", "location")
    }


def test_the_same_event_formatted_by_another_producer_reads_the_same() -> None:
    raw = json.dumps(json.loads(_event().to_json()), indent=1).encode()  # spaces: no fast-path hint
    event = decode(raw)
    assert type(event) is Envelope
    assert msgspec.convert(event.data, ev.TransactionChangedIn) == decode(_event().to_json()).data


def test_data_that_breaks_the_contract_decodes_and_is_then_refused_by_the_reader() -> None:
    decoded = decode(_event(sync_sequence=0).to_json())
    assert type(decoded) is Envelope  # not undecodable: the runner dead-letters it as schema-invalid
    with pytest.raises(msgspec.ValidationError, match="sync_sequence"):
        msgspec.convert(decoded.data, ev.TransactionChangedIn)


def test_other_events_and_garbage_decode_as_the_shared_envelope_does() -> None:
    linked = Envelope.new(
        source="bankstream/link-svc", type=ev.ITEM_LINKED, subject="item-1", data={"item_id": "item-1"}
    )
    assert decode(linked.to_json()) == Envelope.from_json(linked.to_json())
    for bad in (b"", b"{", b'{"type":"bankstream.transaction.changed.v1"}'):
        with pytest.raises(EnvelopeError):
            decode(bad)


def test_the_readers_state_is_the_producers_transaction_state_field_for_field() -> None:
    """Names, order, types and bounds: the reader (msgspec) and the producer's model (pydantic)."""
    happened = {"change", "item_id", "sync_sequence"}
    state_fields = [f for f in ev.TransactionChangedIn.__struct_fields__ if f not in happened]
    assert state_fields == list(ev.TransactionState.model_fields)
    hints = typing.get_type_hints(ev.TransactionChangedIn, include_extras=True)
    for name, field in ev.TransactionState.model_fields.items():
        hint = hints[name]
        if typing.get_origin(hint) is typing.Annotated:
            hint, meta = typing.get_args(hint)
            bounds = {type(m).__name__: m for m in field.metadata}
            assert meta.min_length == bounds["MinLen"].min_length, name
            assert meta.max_length == bounds["MaxLen"].max_length, name
        else:
            assert not field.metadata, name
        assert hint == field.annotation, name
