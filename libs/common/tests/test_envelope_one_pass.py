"""The one-pass reader (`envelope.one_pass`): msgspec's restatement of the envelope gives the same verdict
as `Envelope` on every rule, the envelope it builds equals pydantic's `model_construct` of the same
fields, and its errors name what broke without a value of the input."""

import json
import uuid
from typing import Any, Literal

import msgspec
import pytest
from bankstream_common.envelope import (
    Envelope,
    EnvelopeError,
    EnvelopeRecord,
    OnePassEnvelope,
    decoder,
    describe_msgspec,
    one_pass,
)

TYPE = "bankstream.thing.happened.v1"


class Happened(msgspec.Struct, frozen=True, kw_only=True):
    thing_id: str
    kind: Literal["big", "small"]


class HappenedEnvelope(OnePassEnvelope):
    data: Happened


read = one_pass(HappenedEnvelope, TYPE, Happened)


def _good() -> dict[str, Any]:
    event = Envelope.new(
        source="bankstream/test", type=TYPE, subject="t-1", data={"thing_id": "t-1", "kind": "big"}
    )
    parsed: dict[str, Any] = json.loads(event.to_json())
    return parsed


# Envelope-level changes to a good record, each refused by Envelope (pydantic) and by EnvelopeRecord.
REFUSED = {
    "no id": lambda r: r.pop("id"),
    "id not a uuid": lambda r: r.update(id="access-sandbox-1"),
    "empty source": lambda r: r.update(source=""),
    "long source": lambda r: r.update(source="s" * 201),
    "type without version": lambda r: r.update(type="bankstream.thing.happened"),
    "type with a trailing newline": lambda r: r.update(type="bankstream.thing.happened.v1\n"),
    "naive time": lambda r: r.update(time="2026-11-30T10:00:00"),
    "time not a time": lambda r: r.update(time="yesterday"),
    "no subject": lambda r: r.pop("subject"),
    "long subject": lambda r: r.update(subject="s" * 201),
    "other specversion": lambda r: r.update(specversion="0.3"),
    "other content type": lambda r: r.update(datacontenttype="text/plain"),
    "unknown field": lambda r: r.update(surprise=1),
    "no data": lambda r: r.pop("data"),
}
ACCEPTED = {
    "as produced": lambda r: None,
    "defaults left out": lambda r: (r.pop("specversion"), r.pop("datacontenttype")),
    "time with an offset": lambda r: r.update(time="2026-11-30T10:00:00+02:00"),
    "longest source and subject": lambda r: r.update(source="s" * 200, subject="s" * 200),
}


def _with(change: Any) -> bytes:
    record = _good()
    change(record)
    return json.dumps(record).encode()


@pytest.mark.parametrize("case", REFUSED)
def test_both_envelopes_refuse_what_breaks_a_rule(case: str) -> None:
    raw = _with(REFUSED[case])
    with pytest.raises(EnvelopeError):
        Envelope.from_json(raw)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(raw, type=EnvelopeRecord[dict[str, Any]])


@pytest.mark.parametrize("case", ACCEPTED)
def test_both_envelopes_accept_the_same_records_and_read_the_same_fields(case: str) -> None:
    raw = _with(ACCEPTED[case])
    mine, theirs = read(raw), Envelope.from_json(raw)
    assert isinstance(mine, HappenedEnvelope) and mine.raw == raw
    assert mine.model_dump(exclude={"data"}) == theirs.model_dump(exclude={"data"})
    assert msgspec.structs.asdict(mine.data) == theirs.data


def test_the_envelope_built_is_what_model_construct_builds() -> None:
    raw = _with(ACCEPTED["as produced"])
    mine = read(raw)
    record = msgspec.json.decode(raw, type=EnvelopeRecord[Happened])
    constructed = HappenedEnvelope.model_construct(**{f: getattr(record, f) for f in Envelope.model_fields})
    constructed._raw = raw
    assert mine == constructed and mine.data == constructed.data
    assert mine.model_fields_set == set(Envelope.model_fields)
    assert mine.model_dump_json() == constructed.model_dump_json()  # the reader's view, as an Envelope
    assert Envelope.from_json(mine.model_dump_json().encode()).data == msgspec.structs.asdict(mine.data)
    assert mine.to_json() == raw  # the record as it arrived
    assert constructed.model_copy(update={"_raw": b""}).to_json() == Envelope.from_json(raw).to_json()
    copied = mine.model_copy(update={"subject": "t-2"})  # pydantic adds to the fields set
    assert copied.subject == "t-2" and mine.subject == "t-1" and copied.data == mine.data


def test_a_refused_record_falls_back_to_the_shared_envelope() -> None:
    decode = decoder({TYPE: read})
    good = _good()
    broken = json.dumps({**good, "data": {"thing_id": "t-1", "kind": "huge"}}).encode()
    assert type(decode(broken)) is Envelope  # then refused by the consumer's reader: dead-lettered
    with pytest.raises(EnvelopeError):
        decode(json.dumps({**good, "id": "nope"}).encode())
    other_type = json.dumps({**good, "type": "bankstream.other.v1", "subject": f'"type":"{TYPE}"'})
    assert type(decode(other_type.replace('": "', '":"').encode())) is Envelope
    assert type(decode(json.dumps(good).replace('": "', '":"').encode())) is HappenedEnvelope


def test_a_record_nested_beyond_msgspecs_limit_is_undecodable_not_a_crash() -> None:
    """msgspec raises RecursionError (not a ValueError) about 1,000 levels down, even in a field no reader
    names; the decoder falls back, and the shared envelope refuses it (dead-lettered as undecodable)."""
    deep = json.dumps({**_good(), "data": {"thing_id": "t-1", "kind": "big", "x": [[]]}}).replace(
        "[[]]", "[" * 3000 + "]" * 3000
    )
    with pytest.raises(RecursionError):
        read(deep.replace('": "', '":"').encode())
    with pytest.raises(EnvelopeError):
        decoder({TYPE: read})(deep.replace('": "', '":"').encode())


def test_errors_say_what_broke_and_where_without_the_value() -> None:
    secret = "access-sandbox-" + uuid.uuid4().hex
    raw = json.dumps({**_good(), "data": {"thing_id": "t-1", "kind": secret}}).encode()
    with pytest.raises(msgspec.ValidationError) as info:
        read(raw)
    assert secret in str(info.value)  # msgspec quotes a refused enum value...
    said = describe_msgspec(info.value)
    assert secret not in said and said == "Invalid enum value - at `$.data.kind`"  # ...the reason does not

    class One(msgspec.Struct, tag="one"):
        x: int

    class Two(msgspec.Struct, tag="two"):
        x: int

    with pytest.raises(msgspec.ValidationError) as tagged:
        msgspec.json.decode(json.dumps({"type": secret, "x": 1}).encode(), type=One | Two)
    assert secret in str(tagged.value)
    assert describe_msgspec(tagged.value) == "Invalid value - at `$.type`"
