"""Simulated life of an Item: pending transactions post, new ones appear, amounts change, some vanish.

Every step keeps the ledger and the account balances in agreement and is deterministic for a given
(Item seed, day) or (Item seed, refresh number).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from .ids import derived_id
from .ledger import Ledger, Txn

if TYPE_CHECKING:
    from .items import Item

MAX_NEW_A_DAY = 1000  # bounds a simulated day's work for the largest Items
_TIPPED = {"FOOD_AND_DRINK_RESTAURANT", "FOOD_AND_DRINK_COFFEE", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"}


@dataclass
class Changes:
    added: int = 0
    modified: int = 0
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.modified or self.removed)


class Life:
    def __init__(self, item: Item, ledger: Ledger) -> None:
        self.item = item
        self.ledger = ledger
        self.changes = Changes()

    def account(self, txn: Txn):  # type: ignore[no-untyped-def]
        return self.item.account(txn["account_id"])

    def new_pending(self, when: date) -> Txn:
        self.item.serial += 1
        txn = self.ledger.gen.new_pending(self.item.serial, when)
        self.ledger.add(txn)
        self.account(txn).hold(txn["amount"])
        self.item.pending[txn["transaction_id"]] = None
        self.changes.added += 1
        return txn

    def add_posted(self, txn: Txn) -> None:
        self.ledger.add(txn)
        self.account(txn).post(txn["amount"])
        self.item.recent_posted.append(txn["transaction_id"])
        del self.item.recent_posted[:-50]
        self.changes.added += 1

    def post(self, pending_id: str, when: date, rng: random.Random) -> None:
        old = self.drop(pending_id)
        amount = old["amount"]
        if old["personal_finance_category"]["detailed"] in _TIPPED and rng.random() < 0.3:
            amount = round(amount * rng.choice((1.15, 1.18, 1.2, 1.22)), 2)
        posted = {
            **old,
            "transaction_id": derived_id(self.item.seed, "posted", pending_id),
            "pending": False,
            "pending_transaction_id": pending_id,
            "date": when.isoformat(),
            "amount": amount,
            "authorized_date": old["date"],
        }
        self.add_posted(posted)

    def drop(self, pending_id: str) -> Txn:
        old = self.ledger.remove(pending_id)
        self.account(old).hold(-old["amount"])
        self.item.pending.pop(pending_id, None)
        self.changes.removed.append(pending_id)
        return old

    def change_amount(self, tid: str, rng: random.Random) -> None:
        old = self.ledger.get(tid)
        if old is None:
            return
        amount = round(old["amount"] * rng.uniform(0.6, 1.4), 2) or 0.01
        self.ledger.update({**old, "amount": amount})
        delta = round(amount - old["amount"], 2)
        (self.account(old).hold if old["pending"] else self.account(old).post)(delta)
        self.changes.modified += 1

    def daily(self, day: date) -> None:
        rng = random.Random(f"{self.item.seed}:day:{day.toordinal()}")
        today = day.isoformat()
        for pid in list(self.item.pending):
            txn = self.ledger.get(pid)
            if txn is not None and txn["date"] < today and rng.random() < 0.8:
                self.post(pid, day, rng)
        vanished = 0
        if self.item.pending and rng.random() < 0.15:
            self.drop(rng.choice(list(self.item.pending)))
            vanished = 1
        if self.item.pending and rng.random() < 0.25:
            self.change_amount(rng.choice(list(self.item.pending)), rng)
        if self.item.recent_posted and rng.random() < 0.1:
            self.change_amount(rng.choice(self.item.recent_posted), rng)
        # as many new transactions a day as the history has (a vanished pending is replaced the same day)
        per_day = self.ledger.count / max(self.item.days_requested, 1) + vanished
        for _ in range(min(MAX_NEW_A_DAY, max(1, round(per_day * rng.uniform(0.7, 1.3))))):
            self.new_pending(day)

    def refresh(self, day: date) -> None:
        """What /transactions/refresh finds: every pending posts, an amount changes, new pending appear."""
        self.item.refreshes += 1
        rng = random.Random(f"{self.item.seed}:refresh:{self.item.refreshes}")
        for pid in list(self.item.pending):
            self.post(pid, day, rng)
        if self.item.recent_posted:
            self.change_amount(rng.choice(self.item.recent_posted[:-1] or self.item.recent_posted), rng)
        for _ in range(rng.randint(1, 3)):
            self.new_pending(day)
