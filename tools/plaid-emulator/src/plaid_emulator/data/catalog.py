"""The merchant catalogue precomputed for the generator's hot loop: one `Kind` per merchant, indexed by int.

Everything a transaction shares with others of its merchant (counterparties, PFC objects, icon URL, each
city's location and raw description, or the literal pieces around its random references) is built once
here, so generating a transaction is a handful of random draws, lookups and one dict.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any

from ..ids import derived_id
from . import merchants as m
from . import pfc

CREDITS = frozenset({"INCOME_SALARY", "INCOME_INTEREST_EARNED", "TRANSFER_IN_SAVINGS"})
REF_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_TOKEN = re.compile(r"\{(store|ref):(\d+)\}|\{city\}|\{st\}")


@dataclass(frozen=True, slots=True)
class Parts:
    """What a transaction shows of its merchant at one confidence level."""

    entity_id: str | None
    counterparties: list[dict[str, Any]]
    pfc: dict[str, str]
    icon_url: str


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: a cheap key
class Kind:
    merchant: m.Merchant
    low: float
    span: float  # high - low, as random.uniform computes it
    other: bool  # payment channel "other" (bank-originated lines)
    in_store: bool
    transaction_type: str
    credit: bool  # money in whatever the account
    card_payment: bool  # money in when it lands on the credit card
    account_kinds: tuple[str, ...]
    parts: Parts  # at the merchant's own confidence
    parts_medium: Parts
    # Per city index: the fixed raw description, or (literal pieces, reference widths) around random refs.
    fixed: tuple[str, ...] | None
    templates: tuple[tuple[tuple[str, ...], tuple[int, ...]], ...] | None


def _parts(merchant: m.Merchant, confidence: str) -> Parts:
    entity = derived_id("merchant", merchant.name)[:22] if merchant.name else None
    counterparties = (
        []
        if merchant.name is None
        else [
            {
                "name": merchant.name,
                "type": "merchant",
                "website": merchant.website,
                "logo_url": None,
                "entity_id": entity,
                "confidence_level": confidence,
            }
        ]
    )
    return Parts(
        entity, counterparties, pfc.render(merchant.pfc, confidence, "v2"), pfc.icon_url(merchant.pfc)
    )


def _store_number(descriptor: str, city: str, width: int) -> str:
    """A store number is stable for a (merchant, city)."""
    return str(zlib.crc32(f"{descriptor}|{city}".encode()) % 10**width).zfill(width)


def _template(merchant: m.Merchant, city: m.City) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The descriptor for `city` as literal pieces around its {ref:n} tokens (and their widths)."""
    pieces, widths, last = [], [], 0
    text = merchant.descriptor
    out = ""
    for match in _TOKEN.finditer(text):
        out += text[last : match.start()]
        last = match.end()
        token = match.group(0)
        if token == "{city}":  # noqa: S105 - a template token
            out += city.name
        elif token == "{st}":  # noqa: S105 - a template token
            out += city.region
        elif match.group(1) == "store":
            out += _store_number(text, city.name, int(match.group(2)))
        else:
            pieces.append(out)
            widths.append(int(match.group(2)))
            out = ""
    pieces.append(out + text[last:])
    return tuple(pieces), tuple(widths)


def _kind(merchant: m.Merchant) -> Kind:
    templates = tuple(_template(merchant, city) for city in m.CITIES)
    has_refs = any(widths for _, widths in templates)
    channel = merchant.channel
    return Kind(
        merchant=merchant,
        low=merchant.low,
        span=merchant.high - merchant.low,
        other=channel == "other",
        in_store=channel == "in store",
        transaction_type="place"
        if channel == "in store"
        else ("digital" if channel == "online" else "special"),
        credit=merchant.pfc in CREDITS,
        card_payment=merchant is m.CARD_PAYMENT,
        account_kinds=merchant.accounts,
        parts=_parts(merchant, merchant.confidence),
        parts_medium=_parts(merchant, "MEDIUM"),
        fixed=None if has_refs else tuple(pieces[0] for pieces, _ in templates),
        templates=templates if has_refs else None,
    )


def location(city: m.City) -> dict[str, Any]:
    return {
        "address": None,
        "city": city.name.title(),
        "country": "US",
        "lat": city.lat,
        "lon": city.lon,
        "postal_code": city.postal_code,
        "region": city.region,
        "store_number": None,
    }


# Bank lines picked by thresholds on one draw (cumulative probabilities), then the weighted purchases.
SPECIAL_THRESHOLDS = (0.03, 0.04, 0.055, 0.07, 0.08, 0.095, 0.11)
SPECIALS = tuple(
    _kind(x)
    for x in (m.PAYROLL, m.RENT, m.TO_SAVINGS, m.FROM_CHECKING, m.INTEREST, m.CARD_PAYMENT, m.CARD_AUTOPAY)
)
PURCHASES = tuple(_kind(x) for x in m.MERCHANTS)
PURCHASE_CUM_WEIGHTS = tuple(sum(x.weight for x in m.MERCHANTS[: i + 1]) for i in range(len(m.MERCHANTS)))
TO_SAVINGS = SPECIALS[2]
LOCATIONS = tuple(location(city) for city in m.CITIES)
NULL_LOCATION = dict.fromkeys(
    ("address", "city", "country", "lat", "lon", "postal_code", "region", "store_number")
)
NULL_PAYMENT_META = dict.fromkeys(
    (
        "by_order_of",
        "payee",
        "payer",
        "payment_method",
        "payment_processor",
        "ppd_id",
        "reason",
        "reference_number",
    )
)
