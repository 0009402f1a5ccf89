"""Bearer JWT verification: the issuer's public keys from settings, an explicit algorithm allow-list.

Tokens are signed ES256 or EdDSA by the issuer; link-svc holds only PUBLIC keys (PEM per `kid`, or a JWKS).
Required claims: `sub`, `exp`, `iat`, `iss`, `aud`; `scope` is a space-separated list; `kind` is `user`
(the default: `sub` is the user id) or `service`. A token whose header names an algorithm outside the
allow-list, an unknown `kid`, or no `kid` while several keys are configured, is refused. Error messages
say what was wrong and never echo the token.
"""

import json
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from ..domain.access import Principal, PrincipalKind
from ..domain.errors import NotAuthenticated

ALLOWED_ALGORITHMS = ("ES256", "EdDSA")


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
    def __init__(self, keys: Mapping[str, Any], *, issuer: str, audience: str, leeway: float = 30.0) -> None:
        self._keys = dict(keys)
        self._issuer, self._audience, self._leeway = issuer, audience, leeway

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise NotAuthenticated("a bearer token is required")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("the Authorization header must be 'Bearer <token>'")
        token = token.strip()
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
        return principal_from_claims(claims)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 200:
        raise NotAuthenticated("the bearer token's subject is invalid")
    raw_scope = claims.get("scope", "")
    scopes = raw_scope.split() if isinstance(raw_scope, str) else []
    try:
        kind = PrincipalKind(claims.get("kind", PrincipalKind.USER.value))
    except ValueError:
        raise NotAuthenticated("the bearer token's kind is invalid") from None
    return Principal(subject=sub, kind=kind, scopes=frozenset(scopes))
