"""Deterministic transactions: the same (seed, index) always yields the same transaction.

Historical transaction `i` of an Item (0 = newest) is dated `anchor - i * days // count`, so the history is
spread evenly over the window and can be produced lazily, one index at a time, in any order.

The hot loop (`historical_block`) works on precomputed tables (`catalog`), day ordinals and cached date
strings, and draws from `random.Random` exactly as `random.uniform`, `choice`, `choices` and `randrange`
would (same draws, same values), so the data does not depend on how it is computed.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect, bisect_right
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..ids import BYTE_TO_ALNUM, derived_id
from . import catalog as c
from . import merchants as m
from . import pfc

BLOCK = 256
_AUTH_CUM = (35, 75, 95, 100)  # authorized 0, 1, 2, 3 days before the date (weights 35, 40, 20, 5)
_N_CITIES = len(m.CITIES)
_CITY_BITS = _N_CITIES.bit_length()
_N_REF = len(c.REF_CHARS)
_REF_BITS = _N_REF.bit_length()


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
        self._anchor = profile.anchor.toordinal()
        self._home = m.CITIES.index(profile.home)
        self._credit_account = profile.accounts.get("credit card")
        self._id_prefix = f"{profile.seed}:h:"
        self._iso: dict[int, str] = {}  # day ordinal -> ISO date
        self._shapes: dict[tuple[c.Kind, int, bool, str], dict[str, Any]] = {}

    def historical_id(self, i: int) -> str:
        return derived_id(self.p.seed, "h", i)

    def historical_day(self, i: int) -> int:
        """Days between the anchor and historical transaction `i`'s date."""
        return (i * self.p.days) // max(self.p.count, 1)

    def historical_date(self, i: int) -> date:
        return date.fromordinal(self._anchor - self.historical_day(i))

    def historical_block(self, block: int) -> list[dict[str, Any]]:
        """Historical transactions [block * BLOCK, (block + 1) * BLOCK), generated together (one seeding)."""
        rng = random.Random(self.p.seed * 1_000_003 + block)
        draw = rng.random
        accounts, days, count = self.p.accounts, self.p.days, max(self.p.count, 1)
        prefix, blake2b, anchor, build = self._id_prefix, hashlib.blake2b, self._anchor, self._build
        out = []
        for i in range(block * BLOCK, min((block + 1) * BLOCK, self.p.count)):
            back = (i * days) // count
            r = draw()
            if r < 0.11:
                kind = c.SPECIALS[bisect_right(c.SPECIAL_THRESHOLDS, r)]
                account = accounts[kind.account_kinds[0]]
            else:
                kind = c.PURCHASES[bisect(c.PURCHASE_CUM_WEIGHTS, draw() * c.PURCHASE_CUM_WEIGHTS[-1])]
                account = self._account_for(draw, kind)
            pending = back <= 1 and not kind.other and draw() < 0.5
            tid = blake2b(f"{prefix}{i}".encode(), digest_size=37).digest().translate(BYTE_TO_ALNUM).decode()
            out.append(build(rng, tid, kind, account, anchor - back, pending))
        return out

    def new_pending(self, serial: int, when: date) -> dict[str, Any]:
        rng = random.Random(self.p.seed * 7_000_003 + serial)
        kind = c.PURCHASES[bisect(c.PURCHASE_CUM_WEIGHTS, rng.random() * (c.PURCHASE_CUM_WEIGHTS[-1] + 0.0))]
        account = self._account_for(rng.random, kind)
        return self._build(rng, derived_id(self.p.seed, "n", serial), kind, account, when.toordinal(), True)

    def custom(
        self, serial: int, posted: date, transacted: date, amount: float, description: str, currency: str
    ) -> dict[str, Any]:
        """A transaction from /sandbox/transactions/create, posted to the checking account."""
        rng = random.Random(self.p.seed * 9_000_011 + serial)
        txn = self._build(
            rng,
            derived_id(self.p.seed, "c", serial),
            c.TO_SAVINGS,
            self.p.accounts["checking"],
            posted.toordinal(),
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

    def _account_for(self, draw: Any, kind: c.Kind) -> str:
        kinds = kind.account_kinds
        return self.p.accounts[
            kinds[0] if len(kinds) == 1 else ("checking" if draw() < 0.55 else "credit card")
        ]

    def _day(self, ordinal: int) -> str:
        text = self._iso.get(ordinal)
        if text is None:
            text = self._iso[ordinal] = date.fromordinal(ordinal).isoformat()
        return text

    def _build(
        self, rng: random.Random, tid: str, kind: c.Kind, account: str, day: int, pending: bool
    ) -> dict[str, Any]:
        draw, bits = rng.random, rng.getrandbits
        if draw() < 0.9:
            city = self._home
        else:  # random.randrange(len(CITIES))
            city = bits(_CITY_BITS)
            while city >= _N_CITIES:
                city = bits(_CITY_BITS)
        amount = round(kind.low + kind.span * draw(), 2)  # random.uniform(low, high)
        if kind.credit or (kind.card_payment and account == self._credit_account):
            amount = -amount  # money in: Plaid's sign convention makes it negative
        elif not kind.other and draw() < 0.01:
            amount = -amount  # a refund
        if pending or kind.other:
            authorized = day
        else:  # random.choices((0, 1, 2, 3), (35, 40, 20, 5))
            authorized = day - bisect(_AUTH_CUM, draw() * 100.0, 0, 3)
        description = None
        if kind.templates is not None:
            pieces, widths = kind.templates[city]
            description = pieces[0]
            for width, piece in zip(widths, pieces[1:], strict=True):
                for _ in range(width):  # random.choice(REF_CHARS)
                    r = bits(_REF_BITS)
                    while r >= _N_REF:
                        r = bits(_REF_BITS)
                    description += c.REF_CHARS[r]
                description += piece
        key = (kind, city, draw() >= 0.9, account)  # the 10 % at MEDIUM confidence
        # A copy of the shared shape, then what is this transaction's own: cheaper than a dict literal.
        # Transactions are never mutated in place (a change builds a new dict), so sub-objects are shared.
        txn = (self._shapes.get(key) or self._shape(key)).copy()
        iso = self._iso
        txn["amount"] = amount
        txn["authorized_date"] = iso.get(authorized) or self._day(authorized)
        txn["date"] = iso.get(day) or self._day(day)
        if description is not None:
            txn["original_description"] = description
        txn["pending"] = pending
        txn["transaction_id"] = tid
        return txn

    def _shape(self, key: tuple[c.Kind, int, bool, str]) -> dict[str, Any]:
        kind, city, medium, account = key
        parts = kind.parts_medium if medium else kind.parts
        merchant = kind.merchant
        shape = self._shapes[key] = {
            "account_id": account,
            "account_owner": None,
            "amount": 0.0,
            "authorized_date": "",
            "authorized_datetime": None,
            "category": None,
            "category_id": None,
            "check_number": None,
            "counterparties": parts.counterparties,
            "date": "",
            "datetime": None,
            "iso_currency_code": self.p.currency,
            "location": c.LOCATIONS[city] if kind.in_store else c.NULL_LOCATION,
            "logo_url": None,
            "merchant_entity_id": parts.entity_id,
            "merchant_name": merchant.name,
            "name": merchant.display,
            "original_description": None if kind.fixed is None else kind.fixed[city],
            "payment_channel": merchant.channel,
            "payment_meta": c.NULL_PAYMENT_META,
            "pending": False,
            "pending_transaction_id": None,
            "personal_finance_category": parts.pfc,
            "personal_finance_category_icon_url": parts.icon_url,
            "transaction_code": None,
            "transaction_id": "",
            "transaction_type": kind.transaction_type,
            "unofficial_currency_code": None,
            "website": merchant.website,
        }
        return shape
