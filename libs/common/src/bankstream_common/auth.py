"""Who is calling: bearer JWT verification and the caller it yields, the same for every service's API.

    Authenticator(keys, issuer=..., audience=...).authenticate("Bearer ...") -> Principal
    authenticator_from(settings)   # keys from `jwt_public_keys` / `jwt_jwks`, or the dev issuer's (dev only)
    principal.require("ledger:read")      # NotAllowed without the scope (`admin` implies every scope)
    principal.acting_user(requested)      # a user acts for itself; a service token must name the user
    principal.users_visible(requested)    # the one user a read is limited to, None for every user
    principal.may_see(owner, on_behalf_of=requested)

Who may act across users: `admin` (implies every scope), or a service token holding `users:all`. Any other
service token acts for exactly the user it names (`user_id`); naming none is refused, never "everyone".

Tokens are signed ES256 or EdDSA by the issuer; services hold only PUBLIC keys (PEM per `kid`, or a JWKS).
Required claims: `sub`, `exp`, `iat`, `iss`, `aud`; `scope` is a space-separated list; `kind` is `user`
(the default: `sub` is the user id) or `service`. A token whose header names an algorithm outside the
allow-list, an unknown `kid`, or no `kid` while several keys are configured, is refused. Error messages
say what was wrong and never echo the token.

A client sends the same token with every request until it expires, and the signature check is most of
the cost of a small request: a token that verified is remembered (keyed by the whole token, signature
included, so another token never matches; bounded) until the instant its `exp` (with the leeway) would
refuse it, and answered from memory until then.
"""

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from . import dev_issuer

ALLOWED_ALGORITHMS = ("ES256", "EdDSA")
ADMIN = "admin"
ALL_USERS = "users:all"  # a service token that may act for every user (with its other scopes still needed)


class AuthError(Exception):
    """Base of the two refusals every API shares; entrypoints map them to 401 and 403."""


class NotAuthenticated(AuthError):
    """No bearer token, or one that does not verify. The message never echoes the token."""


class NotAllowed(AuthError):
    """A verified caller without the scope, or acting for someone it may not."""


class PrincipalKind(StrEnum):
    USER = "user"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    """A verified caller. A user token (`kind` user) has the user id as subject and sees only that user's
    data; a service token acts for the user it names and is limited by its scopes. `admin` implies every
    scope and lifts the one-user restriction; `users:all` lifts it for a service token (its scopes still
    apply)."""

    subject: str
    kind: PrincipalKind
    scopes: frozenset[str]

    @property
    def user_id(self) -> str | None:
        """The user this caller acts as, or None for a service."""
        return self.subject if self.kind is PrincipalKind.USER else None

    @property
    def every_user(self) -> bool:
        """May this caller act for any user: `admin`, or a service token with `users:all`."""
        return ADMIN in self.scopes or (self.kind is PrincipalKind.SERVICE and ALL_USERS in self.scopes)

    def has(self, scope: str) -> bool:
        return scope in self.scopes or ADMIN in self.scopes

    def require(self, scope: str) -> None:
        if not self.has(scope):
            raise NotAllowed(f"this token lacks the {scope} scope")

    def users_visible(self, requested_user_id: str | None = None) -> str | None:
        """The one user a read is limited to, or None for every user (only for `every_user` callers that
        name nobody). A user token reads its own user; a service token reads the user it names."""
        if self.every_user:
            return requested_user_id
        return self.acting_user(requested_user_id)

    def may_see(self, owner_user_id: str | None, *, on_behalf_of: str | None = None) -> bool:
        """May this caller touch data owned by `owner_user_id`: its own (a user), the user it names (a
        service, `on_behalf_of`), anyone's (`every_user`)."""
        if self.every_user:
            return on_behalf_of is None or owner_user_id == on_behalf_of
        if self.kind is PrincipalKind.USER:
            return owner_user_id == self.subject
        return on_behalf_of is not None and owner_user_id == on_behalf_of

    def acting_user(self, requested_user_id: str | None) -> str:
        """The user a command acts for: the token's own user, or (for a service) the one it names."""
        if self.kind is PrincipalKind.USER:
            if requested_user_id not in (None, self.subject):
                raise NotAllowed("a user token acts only for its own user")
            return self.subject
        if not requested_user_id:
            raise NotAllowed(f"a service token must name the user it acts for (user_id), or hold {ALL_USERS}")
        return requested_user_id


class JwtSettings(Protocol):
    """What the authenticator reads of a service's settings (read-only: a Literal env is a str here)."""

    @property
    def env(self) -> str: ...
    @property
    def jwt_issuer(self) -> str: ...
    @property
    def jwt_audience(self) -> str: ...
    @property
    def jwt_public_keys(self) -> dict[str, str]: ...
    @property
    def jwt_jwks(self) -> str | None: ...
    @property
    def jwt_max_lifetime_seconds(self) -> float: ...


def _storable(text: str) -> bool:
    """No NUL and no lone surrogate: text PostgreSQL can store and compare."""
    return "\x00" not in text and not any("\ud800" <= ch <= "\udfff" for ch in text)


def load_public_keys(pem_by_kid: Mapping[str, str] | None = None, jwks: str | None = None) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for kid, pem in (pem_by_kid or {}).items():
        keys[kid] = load_pem_public_key(pem.encode())
    if jwks:
        for jwk in json.loads(jwks).get("keys", []):
            kid = jwk.get("kid")
            if not kid:
                raise ValueError("every JWKS key needs a kid")
            keys[kid] = (OKPAlgorithm if jwk.get("kty") == "OKP" else ECAlgorithm).from_jwk(jwk)
    if not keys:
        raise ValueError("no JWT issuer public key configured")
    return keys


class Authenticator:
    def __init__(
        self,
        keys: Mapping[str, Any],
        *,
        issuer: str,
        audience: str,
        leeway: float = 30.0,
        max_lifetime: float = 24 * 3600.0,
        remember: int = 4096,
    ) -> None:
        self._keys = dict(keys)
        self._issuer, self._audience, self._leeway = issuer, audience, leeway
        self._max_lifetime = max_lifetime
        self._remember = remember
        self._verified: dict[str, tuple[Principal, float]] = {}  # token -> (who, refused from this time)

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise NotAuthenticated("a bearer token is required")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("the Authorization header must be 'Bearer <token>'")
        token = token.strip()
        known = self._verified.get(token)
        if known is not None:
            if time.time() < known[1]:
                return known[0]
            self._verified.pop(token, None)  # expired: verified again below, and refused
        principal, claims = self._verify(token)
        if len(self._verified) >= self._remember:
            self._verified.pop(next(iter(self._verified)), None)  # the oldest
        # PyJWT refuses once exp <= now - leeway
        self._verified[token] = (principal, float(claims["exp"]) + self._leeway)
        return principal

    def _verify(self, token: str) -> tuple[Principal, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise NotAuthenticated("the bearer token is not a JWT") from None
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise NotAuthenticated("the bearer token's algorithm is not accepted")
        kid = header.get("kid")
        if kid is None and len(self._keys) == 1:
            kid = next(iter(self._keys))
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise NotAuthenticated("the bearer token is signed with an unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["sub", "exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated("the bearer token has expired") from None
        except jwt.InvalidAudienceError:
            raise NotAuthenticated("the bearer token is not meant for this service") from None
        except jwt.InvalidIssuerError:
            raise NotAuthenticated("the bearer token comes from an unknown issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise NotAuthenticated(f"the bearer token lacks the {exc.claim} claim") from None
        except jwt.PyJWTError:
            raise NotAuthenticated("the bearer token does not verify") from None
        lifetime = claims.get("exp", 0) - claims.get("iat", 0)
        if not isinstance(lifetime, int | float) or lifetime > self._max_lifetime:
            raise NotAuthenticated(f"the bearer token lives longer than {self._max_lifetime:.0f} s")
        return principal_from_claims(claims), claims


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 200 or not _storable(sub):
        raise NotAuthenticated("the bearer token's subject is invalid")
    raw_scope = claims.get("scope", "")
    scopes = raw_scope.split() if isinstance(raw_scope, str) else []
    try:
        kind = PrincipalKind(claims.get("kind", PrincipalKind.USER.value))
    except ValueError:
        raise NotAuthenticated("the bearer token's kind is invalid") from None
    return Principal(subject=sub, kind=kind, scopes=frozenset(scopes))


def authenticator_from(settings: JwtSettings) -> Authenticator:
    """The configured issuer's public keys; with none configured (env=dev only: each service's config
    refuses it elsewhere) the local dev issuer's."""
    if settings.jwt_public_keys or settings.jwt_jwks:
        keys = load_public_keys(settings.jwt_public_keys, settings.jwt_jwks)
    elif settings.env == "dev":
        keys = {dev_issuer.DEV_KID: dev_issuer.load_or_create_private_key().public_key()}
    else:
        raise ValueError("no JWT issuer public key configured outside env=dev")
    return Authenticator(
        keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        max_lifetime=settings.jwt_max_lifetime_seconds,
    )
