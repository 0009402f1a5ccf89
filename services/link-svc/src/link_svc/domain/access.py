"""Who may do what: scopes, and the rule that a user sees and changes only that user's Items.

A caller is a `Principal` taken from a verified bearer token. A user token (`kind` user) has the user id
as subject and is restricted to that user's Items; a service token (`kind` service) acts for no user and
is limited by its scopes alone. `admin` implies every other scope (the vault excepted: releasing a token
needs an explicit `vault:read` on a service token) and lifts the one-user restriction.
"""

from dataclasses import dataclass
from enum import StrEnum

from .errors import ItemNotFound, NotAllowed


class Scope(StrEnum):
    ITEMS_READ = "items:read"
    ITEMS_WRITE = "items:write"
    LINK_WRITE = "link:write"
    VAULT_READ = "vault:read"
    ADMIN = "admin"


class PrincipalKind(StrEnum):
    USER = "user"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    subject: str
    kind: PrincipalKind
    scopes: frozenset[str]

    @property
    def user_id(self) -> str | None:
        """The user this caller acts as, or None for a service."""
        return self.subject if self.kind is PrincipalKind.USER else None

    @property
    def restricted_to(self) -> str | None:
        """The only user whose Items this caller may see: its own user, unless it holds `admin`."""
        return None if Scope.ADMIN.value in self.scopes else self.user_id

    def has(self, scope: Scope) -> bool:
        return scope.value in self.scopes or Scope.ADMIN.value in self.scopes

    def require(self, scope: Scope) -> None:
        if not self.has(scope):
            raise NotAllowed(f"this token lacks the {scope.value} scope")

    def check_owner(self, item_id: str, owner_user_id: str) -> None:
        """A user may touch only their own Items; to them, anyone else's Item does not exist."""
        if self.restricted_to is not None and owner_user_id != self.restricted_to:
            raise ItemNotFound(item_id)

    def acting_user(self, requested_user_id: str | None) -> str:
        """The user a command acts for: the token's own user, or (for a service) the one it names."""
        if self.kind is PrincipalKind.USER:
            if requested_user_id not in (None, self.subject):
                raise NotAllowed("a user token acts only for its own user")
            return self.subject
        if not requested_user_id:
            raise NotAllowed("a service token must name the user it acts for")
        return requested_user_id
