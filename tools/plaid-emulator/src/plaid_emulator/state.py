"""All of an emulator's state, owned by one object that the app holds: Items, tokens, keys, faults, clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .clock import SimClock
from .config import EmulatorConfig
from .data.accounts import build_accounts
from .data.institutions import SANDBOX
from .errors import PlaidApiError
from .faults import Faults
from .ids import IdMint
from .items import Item, Lifecycle
from .webhooks.delivery import Dispatcher
from .webhooks.signing import KeyRing

PUBLIC_TOKEN_TTL = timedelta(minutes=30)
LINK_TOKEN_TTL = timedelta(hours=4)
UPDATE_LINK_TOKEN_TTL = timedelta(minutes=30)
DYNAMIC_USER = "user_transactions_dynamic"


@dataclass
class LinkToken:
    token: str
    expiration: datetime
    client_name: str
    products: list[str]
    webhook: str | None
    redirect_uri: str | None
    days_requested: int
    item_id: str | None = None  # set in update mode
    account_selection: bool = False  # update mode with `update.account_selection_enabled`
    used: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def check_login(username: str, password: str) -> tuple[bool, str | None]:
    """(dynamic user?, error the new Item starts in). Raises the error Link would show."""
    if password.startswith("error_"):
        code = password.removeprefix("error_")
        if code == "ITEM_LOGIN_REQUIRED":
            return username == DYNAMIC_USER, code
        raise PlaidApiError(code)
    if username == DYNAMIC_USER:
        return True, None
    if (username, password) == ("user_good", "pass_good"):
        return False, None
    raise PlaidApiError("INVALID_CREDENTIALS")


class Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock = SimClock(config.start_time, config.realtime)
        self.mint = IdMint(config.seed)
        self.items: dict[str, Item] = {}
        self.by_access_token: dict[str, str] = {}
        self.public_tokens: dict[str, tuple[str, datetime]] = {}
        self.link_tokens: dict[str, LinkToken] = {}
        self.oauth_states: dict[str, tuple[str, dict[str, object]]] = {}  # state id -> (link token, request)
        self.keys = KeyRing()
        self.webhooks = Dispatcher(self.keys, config.webhook_time_scale, config.webhook_timeout)
        self.faults = Faults(config.seed, config.rate_limits)
        self.life = Lifecycle(self)
        self.items_created = 0

    # -- Items ------------------------------------------------------------------------------------------
    def create_item(
        self,
        institution_id: str,
        products: list[str],
        webhook: str | None,
        days_requested: int,
        username: str,
        password: str,
    ) -> Item:
        institution = SANDBOX.get(institution_id)
        if institution is None:
            raise PlaidApiError("INVALID_INSTITUTION")
        if institution.health == "DOWN":
            raise PlaidApiError("INSTITUTION_DOWN")
        dynamic, initial_error = check_login(username, password)
        self.items_created += 1
        seed = self.config.seed * 1_000_003 + self.items_created
        item = Item(
            item_id=self.mint.object_id(),
            access_token=self.mint.token("access"),
            institution_id=institution_id,
            institution_name=institution.name,
            products=products or ["transactions"],
            webhook=webhook or None,
            seed=seed,
            days_requested=days_requested,
            created_at=self.clock.now(),
            accounts=build_accounts(seed),
            dynamic=dynamic,
        )
        if "transactions" in item.products:
            item.pulling_since = item.created_at
        self.items[item.item_id] = item
        self.by_access_token[item.access_token] = item.item_id
        if initial_error:
            item.error = PlaidApiError(initial_error)
        return item

    def item_for_token(self, access_token: object) -> Item:
        if not isinstance(access_token, str) or not access_token.startswith("access-"):
            raise PlaidApiError("INVALID_ACCESS_TOKEN")
        item_id = self.by_access_token.get(access_token)
        if item_id is None:
            raise PlaidApiError("INVALID_ACCESS_TOKEN")
        return self.items[item_id]

    def item_by_id(self, item_id: str) -> Item:
        item = self.items.get(item_id)
        if item is None:
            raise PlaidApiError("ITEM_NOT_FOUND")
        return item

    def remove_item(self, item: Item) -> None:
        self.by_access_token.pop(item.access_token, None)
        self.items.pop(item.item_id, None)

    def housekeep_all(self, wait: bool = False) -> None:
        for item in list(self.items.values()):
            self.life.housekeep(item, wait)

    # -- tokens -----------------------------------------------------------------------------------------
    def issue_public_token(self, item: Item) -> str:
        token = self.mint.token("public")
        self.public_tokens[token] = (item.item_id, self.clock.now() + PUBLIC_TOKEN_TTL)
        return token

    def exchange(self, public_token: object) -> Item:
        entry = self.public_tokens.pop(public_token, None) if isinstance(public_token, str) else None
        if entry is None or entry[1] < self.clock.now() or entry[0] not in self.items:
            raise PlaidApiError("INVALID_PUBLIC_TOKEN")
        return self.items[entry[0]]

    def issue_link_token(self, link: LinkToken) -> LinkToken:
        self.link_tokens[link.token] = link
        return link

    def link_token(self, token: object) -> LinkToken:
        link = self.link_tokens.get(token) if isinstance(token, str) else None
        if link is None or link.expiration < self.clock.now():
            raise PlaidApiError("INVALID_LINK_TOKEN")
        return link
