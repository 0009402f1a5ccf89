"""The projections' decoder reads a TransactionCategorized record in one pass and keeps its bytes for
PostgreSQL; anything else (other types, data that breaks the contract, another producer's formatting)
decodes as the shared Envelope does, so the tolerant reader and the dead-lettering stay as they were."""

import json

import msgspec
import pytest
from bankstream_common.envelope import Envelope, EnvelopeError
from ledger_api.domain import consumed as ev
from ledger_api.handlers.projections import decode, read

from .projection_harness import categorized, item_linked, plaid_transaction


def _event() -> Envelope:
    return categorized(
        "added", plaid_transaction("tx-1", "acct-1"), item_id="item-1", user_id="user-1", version=2
    )


def test_a_categorized_record_is_read_once_and_keeps_its_bytes() -> None:
    raw = _event().to_json()
    event = decode(raw)
    assert isinstance(event, ev.CategorizedEnvelope)
    assert event.raw == raw  # what PostgreSQL reads, byte for byte
    assert isinstance(event.data, ev.TransactionCategorized) and event.data.version == 2
    [known], unknown = read([event])
    assert known.data is event.data and not unknown


def test_the_same_event_formatted_by_another_producer_reads_the_same() -> None:
    raw = json.dumps(json.loads(_event().to_json()), indent=1).encode()  # spaces: no fast-path hint
    event = decode(raw)
    assert type(event) is Envelope
    [known], _ = read([event])
    assert known.data == decode(_event().to_json()).data


def test_data_that_breaks_the_contract_decodes_and_is_then_refused_by_the_reader() -> None:
    event = _event()
    broken = event.model_copy(update={"data": {**event.data, "version": 0}}).to_json()
    decoded = decode(broken)
    assert type(decoded) is Envelope  # not undecodable: the runner dead-letters it as schema-invalid
    with pytest.raises(msgspec.ValidationError, match="version"):
        read([decoded])


def test_other_events_and_garbage_decode_as_the_shared_envelope_does() -> None:
    linked = item_linked("item-1", "user-1", ["acct-1"])
    assert decode(linked.to_json()) == Envelope.from_json(linked.to_json())
    for bad in (b"", b"{", b'{"type":"bankstream.transaction.categorized.v1"}'):
        with pytest.raises(EnvelopeError):
            decode(bad)
