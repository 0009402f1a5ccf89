"""The envelope: a producer mints ids and versions; a consumer gets clear errors for malformed input."""

import json
import uuid

import pytest
from bankstream_common.envelope import Envelope, EnvelopeError, other_version, refuse_other_version
from bankstream_common.errors import PermanentError
from pydantic import BaseModel


class Linked(BaseModel):
    item_id: str


def test_round_trip_keeps_every_field() -> None:
    ev = Envelope.new(
        source="bankstream/link-svc",
        type="bankstream.item.linked.v1",
        subject="item-1",
        data=Linked(item_id="item-1"),
    )
    back = Envelope.from_json(ev.to_json())
    assert back == ev
    assert back.version == 1
    assert isinstance(back.id, uuid.UUID)
    assert back.time.tzinfo is not None


def test_each_event_gets_its_own_id() -> None:
    ids = {Envelope.new(source="s", type="a.b.v1", subject="x", data={}).id for _ in range(100)}
    assert len(ids) == 100


def _with_data(data: bytes) -> bytes:
    good = Envelope.new(source="s", type="a.b.v1", subject="x", data={}).to_json()
    return good.replace(b'"data":{}', b'"data":' + data)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "empty message"),
        (b"not json", "Invalid JSON"),
        (b"[]", "Input should be an object"),
        (json.dumps({"id": str(uuid.uuid4())}).encode(), "type: Field required"),
        *(  # read by pydantic as nan or inf, then stored or published as null
            (_with_data(b'{"amount": %s}' % number), "a number is not finite")
            for number in (b"NaN", b"Infinity", b"-Infinity", b"1e400")
        ),
        (_with_data(b'{"lines": [{"amount": [1.5, -1e999]}]}'), "a number is not finite"),
    ],
)
def test_malformed_input_says_why(raw: bytes, fragment: str) -> None:
    with pytest.raises(EnvelopeError, match=fragment):
        Envelope.from_json(raw)


def test_type_must_carry_a_version() -> None:
    good = Envelope.new(source="s", type="bankstream.item.linked.v2", subject="x", data={})
    raw = json.loads(good.to_json())
    raw["type"] = "bankstream.item.linked"
    with pytest.raises(EnvelopeError, match="type: String should match pattern"):
        Envelope.from_json(json.dumps(raw).encode())


def test_naive_time_and_unknown_fields_are_refused() -> None:
    raw = json.loads(Envelope.new(source="s", type="a.b.v1", subject="x", data={}).to_json())
    with pytest.raises(EnvelopeError, match="time"):
        Envelope.from_json(json.dumps({**raw, "time": "2026-01-01T00:00:00"}).encode())
    with pytest.raises(EnvelopeError, match="surprise: Extra inputs are not permitted"):
        Envelope.from_json(json.dumps({**raw, "surprise": 1}).encode())


def test_error_never_echoes_the_payload() -> None:
    raw = json.dumps({"id": "access-sandbox-0000", "type": "x"}).encode()
    with pytest.raises(EnvelopeError) as info:
        Envelope.from_json(raw)
    assert "access-sandbox" not in str(info.value)


def test_another_version_of_a_type_read_is_refused_other_types_are_not() -> None:
    read = ["bankstream.item.linked.v1", "bankstream.transaction.changed.v1"]
    assert other_version("bankstream.item.linked.v2", read) == "bankstream.item.linked.v1"
    assert other_version("bankstream.item.linked.v1", read) is None  # the one read
    assert other_version("bankstream.item.status_changed.v1", read) is None  # not read at any version
    with pytest.raises(PermanentError, match=r"bankstream\.item\.linked\.v2 is another version of"):
        refuse_other_version("bankstream.item.linked.v2", read)
    refuse_other_version("bankstream.item.removed.v1", read)  # tolerated
