"""Who may do what in link-svc: its scopes, and the rule that a user sees and changes only that user's Items.

A caller is a `Principal` (bankstream_common.auth) taken from a verified bearer token. `admin` implies
every other scope (the vault excepted: releasing a token needs an explicit `vault:read` on a service token)
and lifts the one-user restriction. A service token acts for the user it names (`user_id`) unless it holds
`users:all`; `vault:read` is the sync-worker's by purpose: it releases any Item's token, and nothing else.
"""

from enum import StrEnum

from bankstream_common.auth import Principal

from .errors import ItemNotFound


class Scope(StrEnum):
    ITEMS_READ = "items:read"
    ITEMS_WRITE = "items:write"
    LINK_WRITE = "link:write"
    VAULT_READ = "vault:read"
    ADMIN = "admin"
    ALL_USERS = "users:all"


def check_owner(
    principal: Principal, item_id: str, owner_user_id: str, on_behalf_of: str | None = None
) -> None:
    """A user may touch only their own Items, a service only those of the user it names; to them, anyone
    else's Item does not exist."""
    if not principal.may_see(owner_user_id, on_behalf_of=on_behalf_of):
        raise ItemNotFound(item_id)
