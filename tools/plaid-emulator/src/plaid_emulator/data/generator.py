"""Deterministic transactions: the same (seed, index) always yields the same transaction.

Historical transaction `i` of an Item (0 = newest) is dated `anchor - i * days // count`, so the history is
spread evenly over the window and can be produced lazily, one index at a time, in any order.
"""

from __future__ import annotations

import bisect
import functools
import random
import re
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ..ids import derived_id
from . import merchants as m
from . import pfc

_TOKEN = re.compile(r"\{(store|ref):(\d+)\}|\{city\}|\{st\}")
_REF_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_PURCHASES = m.MERCHANTS
_PURCHASE_WEIGHTS = [x.weight for x in _PURCHASES]
_NULL_PAYMENT_META = dict.fromkeys(
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
_NULL_LOCATION = dict.fromkeys(
    ("address", "city", "country", "lat", "lon", "postal_code", "region", "store_number")
)
BLOCK = 256
_CREDITS = {"INCOME_SALARY", "INCOME_INTEREST_EARNED", "TRANSFER_IN_SAVINGS"}


@dataclass
class Profile:
    """What makes an Item's data what it is."""

    item_id: str
    seed: int
    days: int
    count: int
    anchor: date  # the newest historical date (the Item's creation day)
    accounts: dict[str, str]  # kind ("checking", "savings", "credit card") -> account_id
    currency: str = "USD"
    home: m.City = field(default=m.CITIES[0])

    def __post_init__(self) -> None:
        self.home = m.CITIES[self.seed % len(m.CITIES)]


class Generator:
    def __init__(self, profile: Profile) -> None:
        self.p = profile
        self._cum_weights = list(_accumulate(_PURCHASE_WEIGHTS))

    def historical_id(self, i: int) -> str:
        return derived_id(self.p.seed, "h", i)

    def historical_date(self, i: int) -> date:
        return self.p.anchor - timedelta(days=(i * self.p.days) // max(self.p.count, 1))

    def historical_block(self, block: int) -> list[dict[str, Any]]:
        """Historical transactions [block * BLOCK, (block + 1) * BLOCK), generated together (one seeding)."""
        rng = random.Random(self.p.seed * 1_000_003 + block)
        out = []
        for i in range(block * BLOCK, min((block + 1) * BLOCK, self.p.count)):
            when = self.historical_date(i)
            merchant, account = self._pick(rng)
            pending = (self.p.anchor - when).days <= 1 and merchant.channel != "other" and rng.random() < 0.5
            out.append(self.build(rng, self.historical_id(i), merchant, account, when, pending))
        return out

    def new_pending(self, serial: int, when: date) -> dict[str, Any]:
        rng = random.Random(self.p.seed * 7_000_003 + serial)
        merchant = rng.choices(_PURCHASES, cum_weights=self._cum_weights)[0]
        account = self._account_for(rng, merchant)
        return self.build(rng, derived_id(self.p.seed, "n", serial), merchant, account, when, True)

    def custom(
        self, serial: int, posted: date, transacted: date, amount: float, description: str, currency: str
    ) -> dict[str, Any]:
        """A transaction from /sandbox/transactions/create, posted to the checking account."""
        rng = random.Random(self.p.seed * 9_000_011 + serial)
        txn = self.build(
            rng,
            derived_id(self.p.seed, "c", serial),
            m.TO_SAVINGS,
            self.p.accounts["checking"],
            posted,
            False,
        )
        txn.update(
            amount=round(amount, 2),
            name=description,
            original_description=description,
            merchant_name=None,
            authorized_date=transacted.isoformat(),
            iso_currency_code=currency,
            website=None,
            counterparties=[],
            merchant_entity_id=None,
            personal_finance_category=pfc.render("OTHER_OTHER", "LOW", "v2"),
            personal_finance_category_icon_url=pfc.icon_url("OTHER_OTHER"),
        )
        return txn

    def _pick(self, rng: random.Random) -> tuple[m.Merchant, str]:
        r = rng.random()
        accounts = self.p.accounts
        for threshold, merchant in (
            (0.03, m.PAYROLL),
            (0.04, m.RENT),
            (0.055, m.TO_SAVINGS),
            (0.07, m.FROM_CHECKING),
            (0.08, m.INTEREST),
            (0.095, m.CARD_PAYMENT),
            (0.11, m.CARD_AUTOPAY),
        ):
            if r < threshold:
                return merchant, accounts[merchant.accounts[0]]
        merchant = _PURCHASES[bisect.bisect(self._cum_weights, rng.random() * self._cum_weights[-1])]
        return merchant, self._account_for(rng, merchant)

    def _account_for(self, rng: random.Random, merchant: m.Merchant) -> str:
        kinds = merchant.accounts
        kind = kinds[0] if len(kinds) == 1 else ("checking" if rng.random() < 0.55 else "credit card")
        return self.p.accounts[kind]

    def build(
        self, rng: random.Random, tid: str, merchant: m.Merchant, account: str, when: date, pending: bool
    ) -> dict[str, Any]:
        city = self.p.home if rng.random() < 0.9 else m.CITIES[rng.randrange(len(m.CITIES))]
        amount = round(rng.uniform(merchant.low, merchant.high), 2)
        is_credit_account = account == self.p.accounts.get("credit card")
        if merchant.pfc in _CREDITS or (merchant is m.CARD_PAYMENT and is_credit_account):
            amount = -amount  # money in: Plaid's sign convention makes it negative
        elif merchant.channel != "other" and rng.random() < 0.01:
            amount = -amount  # a refund
        if pending or merchant.channel == "other":
            authorized = when
        else:
            authorized = when - timedelta(days=rng.choices((0, 1, 2, 3), (35, 40, 20, 5))[0])
        description = _describe(merchant, city, rng)
        in_store = merchant.channel == "in store"
        confidence = merchant.confidence if rng.random() < 0.9 else "MEDIUM"
        parts = _parts(merchant, confidence)
        # Transactions are never mutated in place (a change builds a new dict), so sub-objects are shared.
        return {
            "account_id": account,
            "account_owner": None,
            "amount": amount,
            "authorized_date": authorized.isoformat(),
            "authorized_datetime": None,
            "category": None,
            "category_id": None,
            "check_number": None,
            "counterparties": parts.counterparties,
            "date": when.isoformat(),
            "datetime": None,
            "iso_currency_code": self.p.currency,
            "location": _location(city) if in_store else _NULL_LOCATION,
            "logo_url": None,
            "merchant_entity_id": parts.entity_id,
            "merchant_name": merchant.name,
            "name": merchant.display,
            "original_description": description,
            "payment_channel": merchant.channel,
            "payment_meta": _NULL_PAYMENT_META,
            "pending": pending,
            "pending_transaction_id": None,
            "personal_finance_category": parts.pfc,
            "personal_finance_category_icon_url": parts.icon_url,
            "transaction_code": None,
            "transaction_id": tid,
            "transaction_type": "place"
            if in_store
            else ("digital" if merchant.channel == "online" else "special"),
            "unofficial_currency_code": None,
            "website": merchant.website,
        }


@dataclass(frozen=True)
class _Parts:
    entity_id: str | None
    counterparties: list[dict[str, Any]]
    pfc: dict[str, str]
    icon_url: str


@functools.cache
def _parts(merchant: m.Merchant, confidence: str) -> _Parts:
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
    return _Parts(
        entity, counterparties, pfc.render(merchant.pfc, confidence, "v2"), pfc.icon_url(merchant.pfc)
    )


@functools.cache
def _location(city: m.City) -> dict[str, Any]:
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


@functools.cache
def _store_number(descriptor: str, city: str, width: int) -> str:
    """A store number is stable for a (merchant, city)."""
    return str(zlib.crc32(f"{descriptor}|{city}".encode()) % 10**width).zfill(width)


def _describe(merchant: m.Merchant, city: m.City, rng: random.Random) -> str:
    if "{ref:" not in merchant.descriptor:
        return _fixed_description(merchant, city)
    return _render_description(merchant, city, rng)


@functools.cache
def _fixed_description(merchant: m.Merchant, city: m.City) -> str:
    return _render_description(merchant, city, None)


def _render_description(merchant: m.Merchant, city: m.City, rng: random.Random | None) -> str:
    def sub(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{city}":  # noqa: S105 - a template token
            return city.name
        if token == "{st}":  # noqa: S105 - a template token
            return city.region
        width = int(match.group(2))
        if match.group(1) == "store":
            return _store_number(merchant.descriptor, city.name, width)
        assert rng is not None
        return "".join(rng.choice(_REF_CHARS) for _ in range(width))

    return _TOKEN.sub(sub, merchant.descriptor)


def _accumulate(values: list[int]) -> list[int]:
    total, out = 0, []
    for v in values:
        total += v
        out.append(total)
    return out
