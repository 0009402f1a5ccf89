"""The event envelope every bankstream event travels in, shaped like a CloudEvent (structured mode).

    {"specversion": "1.0", "id": "<uuid minted by the producer>", "source": "bankstream/link-svc",
     "type": "bankstream.item.linked.v1", "time": "2026-11-21T15:00:00Z", "subject": "<item id>",
     "datacontenttype": "application/json", "data": {...}}

`id` is the consumers' idempotency key. `type` ends in `.v<N>`: a breaking change to `data` is a new type.
The producer owns the schema of `data`; consumers read only the fields they need.
"""

import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

import msgspec
import pydantic
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .errors import PermanentError

CONTENT_TYPE = "application/cloudevents+json"
TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[1-9][0-9]*$"


class EnvelopeError(ValueError):
    """Bytes that are not a valid envelope; the message says why (never echoes the payload)."""


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(pattern=TYPE_PATTERN, max_length=200)
    time: AwareDatetime
    subject: str = Field(min_length=1, max_length=200)
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]

    @classmethod
    def new(
        cls,
        *,
        source: str,
        type: str,
        subject: str,
        data: BaseModel | Mapping[str, Any],
        id: uuid.UUID | None = None,
        time: datetime | None = None,
    ) -> "Envelope":
        payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else dict(data)
        return cls(
            id=id or uuid.uuid4(),
            source=source,
            type=type,
            subject=subject,
            time=time or datetime.now(UTC),
            data=payload,
        )

    @property
    def version(self) -> int:
        return int(self.type.rsplit(".v", 1)[1])

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, raw: bytes | None) -> "Envelope":
        if not raw:
            raise EnvelopeError("empty message: an envelope was expected")
        try:
            envelope = cls.model_validate_json(raw)
        except pydantic.ValidationError as exc:
            raise EnvelopeError(describe(exc)) from None
        if not _finite(envelope.data):
            raise EnvelopeError("data: a number is not finite (NaN, Infinity, or beyond a double's range)")
        return envelope


def describe(exc: pydantic.ValidationError) -> str:
    """A validation error as one line of `field: reason`, without the offending input values."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)[:1000]


def describe_msgspec(exc: msgspec.DecodeError) -> str:
    """A msgspec error as what broke and where, without a value of the input, as `describe` keeps
    pydantic's out: msgspec quotes the value it refused in its enum and tagged-union errors (`Invalid enum
    value 'x'`, `Invalid value 'x'`), so those keep their first words only, and anything quoted is dropped."""
    what, at, where = str(exc).rpartition(" - at ")
    if not at:
        what, where = where, ""
    what = _REFUSED_VALUE.sub(r"\1", what)
    what = _QUOTED.sub("'...'", what)
    return (what + (f" - at {where}" if where else ""))[:1000]


_REFUSED_VALUE = re.compile(r"^(Invalid (?:enum )?value)\b.*", re.S)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def other_version(event_type: str, known: Iterable[str]) -> str | None:
    """The type among `known` that `event_type` is another version of (`bankstream.item.linked.v2`
    against `...v1`), or None. A consumer is a tolerant reader of the types it does not read at all, but a
    new version of one it reads is a contract it does not know yet: ignoring it (and marking it applied)
    would lose it for good, so it is dead-lettered, to be replayed once the consumer reads that version."""
    name = event_type.rpartition(".v")[0]
    return next((k for k in known if k != event_type and k.rpartition(".v")[0] == name), None)


def refuse_other_version(event_type: str, known: Iterable[str]) -> None:
    """PermanentError (dead-lettered by the consumer runner) when `event_type` is another version of a
    type among `known` (other_version)."""
    read = other_version(event_type, known)
    if read is not None:
        raise PermanentError(f"{event_type} is another version of {read}, which this consumer reads")


def _finite(value: Any) -> bool:
    """No NaN or infinity anywhere in `value`: pydantic's JSON parser reads the literals NaN and Infinity,
    and turns 1e400 into inf; no event field means either (msgspec's readers refuse them too)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def decoder(typed: Mapping[str, Callable[[bytes], Envelope]]) -> Callable[[bytes | None], Envelope]:
    """A consumer runner's decoder (ADR 0018): a record of one of the `typed` event types is read by its
    reader (`one_pass`), which checks the envelope and its data as the JSON is parsed; anything else,
    and such a record the reader refuses (its ValueError: msgspec's ValidationError or DecodeError; or
    the RecursionError msgspec raises for a record nested about 1,000 deep), decodes as
    `Envelope.from_json` does, so the tolerant reader and the dead-lettering stay as they were.
    A byte search for the type as the producers write it (`"type":"<type>"`) only picks the path; it
    never accepts a record."""
    readers = [(f'"type":"{type_}"'.encode(), read) for type_, read in typed.items()]

    def decode(raw: bytes | None) -> Envelope:
        if raw:
            for hint, read in readers:
                if hint in raw:
                    try:
                        return read(raw)
                    except (ValueError, RecursionError):  # RecursionError: msgspec's nesting limit
                        break
        return Envelope.from_json(raw)

    return decode


D = TypeVar("D")
E = TypeVar("E", bound="OnePassEnvelope")

_Bounded = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# TYPE_PATTERN for Python's `re` (msgspec's): its `$` also matches before a final newline, `\Z` does not.
_TYPE_PATTERN_PY = TYPE_PATTERN.removesuffix("$") + r"\Z"


class EnvelopeRecord(msgspec.Struct, Generic[D], frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`Envelope`'s fields and rules restated for msgspec, with a typed `data` (test_envelope_one_pass
    holds the two to the same verdicts): what `one_pass` decodes a hot record into. msgspec checks a
    record while it parses it, about five times faster than pydantic validates the same bytes (ADR 0022)."""

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID
    source: _Bounded
    type: Annotated[str, msgspec.Meta(pattern=_TYPE_PATTERN_PY, max_length=200)]
    time: Annotated[datetime, msgspec.Meta(tz=True)]
    subject: _Bounded
    datacontenttype: Literal["application/json"] = "application/json"
    data: D


class OnePassEnvelope(Envelope):
    """An envelope whose `data` is a consumer's msgspec reader (a Struct), read by `one_pass` from the
    record's bytes, which it keeps (`raw`): a consumer that hands the event on as it arrived (to
    PostgreSQL, say) serializes nothing. Built, never validated: `one_pass` has checked it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    data: Any  # the consumer's Struct, not a dict
    _raw: bytes = pydantic.PrivateAttr(b"")

    @property
    def raw(self) -> bytes:
        return self._raw

    def to_json(self) -> bytes:
        """The record as it arrived (`model_dump_json` writes the reader's view: the fields it names)."""
        return self._raw or super().to_json()

    @pydantic.field_serializer("data")
    def _data(self, data: Any) -> Any:
        return msgspec.to_builtins(data)

    @classmethod
    def of(cls, record: "EnvelopeRecord[Any]", raw: bytes) -> Self:
        """The envelope of a checked record: what `model_construct` builds (a test holds the two equal),
        without its per-call walk over the fields, defaults and private attributes, which cost more than
        msgspec's whole check of the record (6 us against 4)."""
        event = _new(cls)
        _set(event, "__dict__", {
            "specversion": record.specversion, "id": record.id, "source": record.source,
            "type": record.type, "time": record.time, "subject": record.subject,
            "datacontenttype": record.datacontenttype, "data": record.data,
        })  # fmt: skip
        _set(event, "__pydantic_fields_set__", set(_ALL_FIELDS))
        _set(event, "__pydantic_extra__", None)
        _set(event, "__pydantic_private__", {"_raw": raw})
        return event


_new, _set = object.__new__, object.__setattr__
_ALL_FIELDS = tuple(Envelope.model_fields)


def one_pass(envelope: type[E], event_type: str, data: type[msgspec.Struct]) -> Callable[[bytes], E]:
    """A `decoder` reader of `event_type`'s records: the envelope and `data` (a msgspec Struct, the
    consumer's reader of that type) checked in ONE pass over the bytes; raises msgspec's ValidationError
    or DecodeError (ValueErrors) for a record it refuses. `envelope` should declare `data` as that Struct:
    nothing here can make the type checker hold the two together."""
    decode = msgspec.json.Decoder(EnvelopeRecord[data]).decode  # type: ignore[valid-type]

    def read(raw: bytes) -> E:
        record = decode(raw)
        if record.type != event_type:  # the type's text was somewhere else in the record
            raise msgspec.ValidationError(f"not a {event_type} event")
        return envelope.of(record, raw)

    return read
