"""Items and their lifecycle: creation, data readiness, simulated days, refresh, login errors and repair."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import prepare
from .data.accounts import Account
from .data.generator import Generator, Profile
from .errors import PlaidApiError
from .ledger import Ledger
from .life import Changes, Life
from .sync import key_of
from .webhooks import events

if TYPE_CHECKING:
    from .state import Emulator

STATUS_NOT_READY = "NOT_READY"
STATUS_INITIAL = "INITIAL_UPDATE_COMPLETE"
STATUS_HISTORICAL = "HISTORICAL_UPDATE_COMPLETE"


@dataclass
class Item:
    item_id: str
    access_token: str
    institution_id: str
    institution_name: str
    products: list[str]
    webhook: str | None
    seed: int
    days_requested: int
    created_at: datetime
    accounts: list[Account]
    # accounts opened at the bank since (NEW_ACCOUNTS_AVAILABLE), shared once the user selects them in
    # update mode with account selection
    new_accounts: list[Account] = field(default_factory=list)
    dynamic: bool = False
    # When its Transactions pull began: at creation if linked with transactions, else at its first
    # /transactions/sync (which initialises the product); None until then.
    pulling_since: datetime | None = None
    volume: int | None = None
    currency: str = "USD"
    ledger: Ledger | None = None  # set once the data exists (the Item is no longer NOT_READY)
    preparing: Ledger | None = None  # the ledger whose history is being generated ahead
    status: str = STATUS_NOT_READY
    error: PlaidApiError | None = None
    sync_called: bool = False
    last_day: date | None = None
    serial: int = 0
    refreshes: int = 0
    generation: int = 0
    forced_mutations: int = 0  # pagination runs to break with a change between two pages
    refreshes_due: list[datetime] = field(default_factory=list)  # /transactions/refresh calls still running
    pending: dict[str, None] = field(default_factory=dict)
    recent_posted: list[str] = field(default_factory=list)
    consent_expiration_time: str | None = None
    last_update: datetime | None = None
    last_webhook: tuple[str, datetime] | None = None

    @property
    def data_started(self) -> bool:
        """Whether the data's shape (volume, window, currency) is fixed: generation has begun."""
        return self.ledger is not None or self.preparing is not None

    @property
    def cursor_key(self) -> bytes:
        return key_of(self.item_id, str(self.generation))

    def account(self, account_id: str) -> Account:
        for account in self.accounts:
            if account.account_id == account_id:
                return account
        raise PlaidApiError("INVALID_ACCOUNT_ID")

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "institution_id": self.institution_id,
            "institution_name": self.institution_name,
            "webhook": self.webhook,
            "auth_method": None,
            "error": self.error.body(with_status=False) if self.error else None,
            "available_products": ["balance", "identity", "investments"],
            "billed_products": list(self.products),
            "products": list(self.products),
            "consented_products": list(self.products),
            "consent_expiration_time": self.consent_expiration_time,
            "update_type": "background",
            "created_at": _iso(self.created_at),
        }

    def status_dict(self) -> dict[str, Any]:
        last = self.last_webhook
        return {
            "investments": None,
            "transactions": {
                "last_successful_update": _iso(self.last_update) if self.last_update else None,
                "last_failed_update": None,
            },
            "last_webhook": {"sent_at": _iso(last[1]), "code_sent": last[0]} if last else None,
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class Lifecycle:
    """Moves Items through time. Everything here runs on the server's event loop.

    When an Item's not-ready delay has passed, its history is generated ahead (see `prepare`) before it
    reports INITIAL_UPDATE_COMPLETE.
    """

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.background = prepare.Background()

    def notify(self, item: Item, payload: dict[str, Any]) -> None:
        item.last_webhook = (payload["webhook_code"], self.emu.clock.now())
        self.emu.webhooks.send(item.webhook, payload)

    def transaction_count(self, item: Item) -> int:
        return item.volume or self.emu.config.default_transactions or 4 * item.days_requested

    def housekeep(self, item: Item, wait: bool = False) -> None:
        """Bring `item` up to now; `wait`: finish generating its data rather than stay NOT_READY for it."""
        cfg, now = self.emu.config, self.emu.clock.now()
        if item.error is not None:
            return  # an Item in an error state does not move, not even its first pull (until repaired)
        if item.pulling_since is None:
            return  # not initialised with Transactions: nothing to pull
        if item.status == STATUS_NOT_READY and now >= item.pulling_since + timedelta(
            seconds=cfg.not_ready_delay
        ):
            if not self._prepared(item, wait):
                return
            self._initialise(item, now)
        if item.status == STATUS_INITIAL and now >= item.pulling_since + timedelta(
            seconds=cfg.not_ready_delay + cfg.historical_delay
        ):
            self._complete_history(item, now)
        if item.status == STATUS_HISTORICAL:
            assert item.last_day is not None and item.ledger is not None
            today = now.date()
            while item.last_day < today:  # each simulated day is an update of its own, announced as such
                item.last_day += timedelta(days=1)
                life = Life(item, item.ledger)
                life.daily(item.last_day)
                self.announce(item, life.changes)
            while item.refreshes_due and item.refreshes_due[0] <= now:
                item.refreshes_due.pop(0)
                life = Life(item, item.ledger)
                life.refresh(today)
                self.announce(item, life.changes)

    def start_transactions(self, item: Item, days_requested: int | None = None) -> None:
        """Initialise the Item with Transactions if it is not yet (its first /transactions/sync does this
        for an Item linked without them): only then does `days_requested` count."""
        if item.pulling_since is not None:
            return
        if "transactions" not in item.products:
            item.products.append("transactions")
        if days_requested is not None:
            item.days_requested = days_requested
        item.pulling_since = self.emu.clock.now()

    def _prepared(self, item: Item, wait: bool) -> bool:
        ledger = item.preparing
        if ledger is None:
            assert item.pulling_since is not None
            profile = Profile(
                item.item_id,
                item.seed,
                item.days_requested,
                self.transaction_count(item),
                item.pulling_since.date(),
                {a.kind: a.account_id for a in item.accounts},
                item.currency,
            )
            cfg = self.emu.config
            ledger = item.preparing = Ledger(Generator(profile), cfg.prepared_transactions, cfg.gc_freeze)
        if prepare.prepare_now(ledger, wait):
            return True
        self.background.wanted.set()
        return False

    async def prepare_in_background(self) -> None:
        def pending() -> list[tuple[str, Ledger]]:
            items = self.emu.items.values()
            return [(i.item_id, i.preparing) for i in items if i.preparing and not i.preparing.prepared]

        def done(item_id: str) -> None:
            if item_id in self.emu.items:
                self.housekeep(self.emu.items[item_id])  # ready now: INITIAL_UPDATE and its webhooks

        await self.background.run(pending, done)

    def _initialise(self, item: Item, now: datetime) -> None:
        assert item.preparing is not None
        ledger = item.ledger = item.preparing
        profile, count = ledger.gen.p, ledger.count
        recent = min(count, math.ceil(31 * count / item.days_requested))
        ledger.append_history(0, recent)
        i = 0
        while i < count and (i < 20 or (profile.anchor - ledger.gen.historical_date(i)).days <= 2):
            txn = ledger.remember(i)
            if txn["pending"]:
                item.pending[txn["transaction_id"]] = None
                item.account(txn["account_id"]).hold(txn["amount"])
            else:
                item.recent_posted.append(txn["transaction_id"])
            i += 1
        del item.recent_posted[:-50]
        item.status, item.last_update, item.last_day = STATUS_INITIAL, now, profile.anchor
        self.notify(item, events.transactions_update(item.item_id, "INITIAL_UPDATE", recent))
        if item.sync_called:
            self.notify(item, events.sync_updates_available(item.item_id, True, False))

    def _complete_history(self, item: Item, now: datetime) -> None:
        assert item.ledger is not None
        added = item.ledger.append_history(item.ledger.head, item.ledger.count)
        item.status, item.last_update = STATUS_HISTORICAL, now
        self.notify(item, events.transactions_update(item.item_id, "HISTORICAL_UPDATE", added))
        if item.sync_called:
            self.notify(item, events.sync_updates_available(item.item_id, True, True))

    def announce(self, item: Item, changes: Changes) -> None:
        if not changes:
            return
        item.last_update = self.emu.clock.now()
        if item.sync_called:
            self.notify(
                item, events.sync_updates_available(item.item_id, True, item.status == STATUS_HISTORICAL)
            )
        if changes.added:
            self.notify(item, events.transactions_update(item.item_id, "DEFAULT_UPDATE", changes.added))
        if changes.removed:
            self.notify(item, events.transactions_removed(item.item_id, changes.removed))

    def refresh(self, item: Item, *, at_once: bool = False) -> None:
        """/transactions/refresh: Plaid answers at once and finds the new data `refresh_delay` later (then
        SYNC_UPDATES_AVAILABLE); `at_once` (the control API) lands it now."""
        self.housekeep(item)
        if item.status != STATUS_HISTORICAL or item.ledger is None:
            return  # the initial pull is still running; it will bring everything
        delay = 0.0 if at_once else self.emu.config.refresh_delay
        item.refreshes_due.append(self.emu.clock.now() + timedelta(seconds=delay))
        if at_once:
            self.housekeep(item)

    def mutate(self, item: Item) -> None:
        """One new pending transaction now: used to force a mutation during pagination."""
        if item.ledger is None:
            return
        life = Life(item, item.ledger)
        life.new_pending(self.emu.clock.today())
        self.announce(item, life.changes)

    def set_error(self, item: Item, code: str) -> None:
        item.error = PlaidApiError(code)
        webhook_code = "USER_PERMISSION_REVOKED" if code == "USER_PERMISSION_REVOKED" else "ERROR"
        self.notify(
            item, events.item_event(item.item_id, webhook_code, error=item.error.body(with_status=True))
        )

    def repair(self, item: Item, *, in_update_mode: bool) -> None:
        """The Item's login works again. Plaid fires LOGIN_REPAIRED only when it recovers without the user
        going through update mode in the app: after update mode, the app learns it from Link's onSuccess."""
        if item.error is not None and item.error.code == "ITEM_LOGIN_REQUIRED":
            item.error = None
            if not in_update_mode:
                self.notify(item, events.item_event(item.item_id, "LOGIN_REPAIRED"))
            self.housekeep(item)
