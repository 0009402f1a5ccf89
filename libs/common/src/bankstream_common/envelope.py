"""The event envelope every bankstream event travels in, shaped like a CloudEvent (structured mode).

    {"specversion": "1.0", "id": "<uuid minted by the producer>", "source": "bankstream/link-svc",
     "type": "bankstream.item.linked.v1", "time": "2026-11-21T15:00:00Z", "subject": "<item id>",
     "datacontenttype": "application/json", "data": {...}}

`id` is the consumers' idempotency key. `type` ends in `.v<N>`: a breaking change to `data` is a new type.
The producer owns the schema of `data`; consumers read only the fields they need.
"""

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

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
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise EnvelopeError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """A validation error as one line of `field: reason`, without the offending input values."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)[:1000]


def decoder(typed: Mapping[str, Callable[[bytes], Envelope]]) -> Callable[[bytes | None], Envelope]:
    """A consumer runner's decoder (ADR 0018): a record of one of the `typed` event types is read by its
    reader, in one pass that checks the envelope and its data as the JSON is parsed (a subclass of
    Envelope whose `data` is the consumer's model); anything else, and such a record whose data breaks
    the contract, decodes as `Envelope.from_json` does, so the tolerant reader and the dead-lettering
    stay as they were. A byte search for the type as pydantic writes it (`"type":"<type>"`) only picks
    the path; it never accepts a record."""
    readers = [(f'"type":"{type_}"'.encode(), read) for type_, read in typed.items()]

    def decode(raw: bytes | None) -> Envelope:
        if raw:
            for hint, read in readers:
                if hint in raw:
                    try:
                        return read(raw)
                    except ValidationError:
                        break
        return Envelope.from_json(raw)

    return decode
