"""An Item's accounts (checking, savings, credit card) and their running balances."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..ids import derived_id

_SHAPES = (
    ("checking", "Plaid Checking", "Plaid Gold Standard 0% Interest Checking", "depository", "checking"),
    ("savings", "Plaid Saving", "Plaid Silver Standard 0.1% Interest Saving", "depository", "savings"),
    (
        "credit card",
        "Plaid Credit Card",
        "Plaid Diamond 12.5% APR Interest Credit Card",
        "credit",
        "credit card",
    ),
)


@dataclass
class Account:
    account_id: str
    kind: str
    name: str
    official_name: str
    mask: str
    type: str
    subtype: str
    currency: str
    current: float  # posted balance: money held (depository) or owed (credit)
    limit: float | None
    pending: float = 0.0  # sum of pending amounts (Plaid sign: positive = money out)

    def post(self, amount: float) -> None:
        self.current = round(self.current + (amount if self.type == "credit" else -amount), 2)

    def hold(self, amount: float) -> None:
        self.pending = round(self.pending + amount, 2)

    def balances(self) -> dict[str, Any]:
        if self.type == "credit":
            assert self.limit is not None
            available: float = round(self.limit - self.current - self.pending, 2)
        else:
            available = round(self.current - self.pending, 2)
        return {
            "available": available,
            "current": self.current,
            "limit": self.limit,
            "iso_currency_code": self.currency,
            "unofficial_currency_code": None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "balances": self.balances(),
            "mask": self.mask,
            "name": self.name,
            "official_name": self.official_name,
            "type": self.type,
            "subtype": self.subtype,
            "holder_category": "personal",
            "persistent_account_id": derived_id("persistent", self.account_id),
        }

    def link_metadata(self) -> dict[str, Any]:
        """The account as Link's onSuccess metadata describes it."""
        return {
            "id": self.account_id,
            "name": self.name,
            "mask": self.mask,
            "type": self.type,
            "subtype": self.subtype,
            "verification_status": None,
            "class_type": None,
        }


def build_accounts(seed: int, currency: str = "USD") -> list[Account]:
    rng = random.Random(seed * 31 + 7)
    out = []
    for kind, name, official, type_, subtype in _SHAPES:
        if kind == "credit card":
            credit_limit = float(rng.choice((2000, 5000, 8000, 12000, 20000)))
            limit: float | None = credit_limit
            current = round(rng.uniform(150, 0.35 * credit_limit), 2)
        else:
            limit = None
            current = round(rng.uniform(2500, 9000) if kind == "checking" else rng.uniform(5000, 40000), 2)
        out.append(
            Account(
                derived_id(seed, "account", kind),
                kind,
                name,
                official,
                f"{rng.randrange(10000):04d}",
                type_,
                subtype,
                currency,
                current,
                limit,
            )
        )
    return out


def new_account(seed: int, number: int, currency: str = "USD") -> Account:
    """An account opened at the bank after the Item was linked (NEW_ACCOUNTS_AVAILABLE): a money market."""
    rng = random.Random(f"{seed}:new-account:{number}")
    return Account(
        derived_id(seed, "account", "new", number),
        f"money market {number}",
        "Plaid Money Market",
        "Plaid Platinum Standard 1.85% Interest Money Market",
        f"{rng.randrange(10000):04d}",
        "depository",
        "money market",
        currency,
        round(rng.uniform(1000, 20000), 2),
        None,
    )
