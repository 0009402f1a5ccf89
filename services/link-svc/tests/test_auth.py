"""Bearer JWTs: issuer keys only, ES256/EdDSA only, audience/issuer/expiry enforced, scopes, owners."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from link_svc.adapters.auth import Authenticator
from link_svc.adapters.dev_issuer import mint
from link_svc.domain.access import Principal, PrincipalKind, Scope
from link_svc.domain.errors import ItemNotFound, NotAllowed, NotAuthenticated

from .webhook_signing import b64url

KEY = ec.generate_private_key(ec.SECP256R1())
AUTH = Authenticator({"k1": KEY.public_key()}, issuer="iss", audience="link-svc")


def token(**overrides: object) -> str:
    return mint(KEY, subject="alice", scopes=["items:read"], issuer="iss", kid="k1", **overrides)  # type: ignore[arg-type]


def refused(header: str | None) -> str:
    with pytest.raises(NotAuthenticated) as caught:
        AUTH.authenticate(header)
    return str(caught.value)


def test_a_valid_user_token_gives_its_user_and_scopes() -> None:
    who = AUTH.authenticate(f"Bearer {token()}")
    assert who == Principal("alice", PrincipalKind.USER, frozenset({"items:read"}))
    assert who.user_id == "alice" and who.has(Scope.ITEMS_READ) and not who.has(Scope.ITEMS_WRITE)


def test_eddsa_tokens_are_accepted_too() -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    auth = Authenticator({"ed": ed.public_key()}, issuer="iss", audience="link-svc")
    now = int(time.time())
    claims = {
        "sub": "bob",
        "iss": "iss",
        "aud": "link-svc",
        "iat": now,
        "exp": now + 60,
        "scope": "items:read",
    }
    assert (
        auth.authenticate(
            "Bearer " + jwt.encode(claims, ed, algorithm="EdDSA", headers={"kid": "ed"})
        ).subject
        == "bob"
    )


def test_expired_wrong_audience_wrong_issuer_are_refused() -> None:
    assert "expired" in refused(f"Bearer {token(ttl=-120)}")
    assert "not meant" in refused(f"Bearer {token(audience='ledger-api')}")
    assert "issuer" in refused("Bearer " + mint(KEY, subject="a", scopes=[], issuer="evil", kid="k1"))


def test_other_keys_unknown_kids_and_other_algorithms_are_refused() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    assert "does not verify" in refused(
        "Bearer " + mint(other, subject="a", scopes=[], issuer="iss", kid="k1")
    )
    assert "unknown key" in refused("Bearer " + mint(KEY, subject="a", scopes=[], issuer="iss", kid="k9"))
    header = b64url(b'{"alg":"none","kid":"k1"}')
    claims = b64url(b'{"sub":"a","iss":"iss","aud":"link-svc","iat":1,"exp":9999999999}')
    assert "algorithm" in refused(f"Bearer {header}.{claims}.")
    hs = jwt.encode(
        {"sub": "a"}, "a-shared-secret-of-32-bytes-long!", algorithm="HS256", headers={"kid": "k1"}
    )
    assert "algorithm" in refused(f"Bearer {hs}")


def test_missing_or_malformed_header_is_refused_without_echoing_it() -> None:
    assert "required" in refused(None)
    assert "Bearer" in refused("Basic dXNlcjpwYXNz")
    message = refused("Bearer eyJhbGciOiJFUzI1NiJ9.garbage.garbage")
    assert "garbage" not in message


def test_a_user_sees_only_their_items_and_a_service_acts_only_through_scopes() -> None:
    alice = Principal("alice", PrincipalKind.USER, frozenset({"items:read"}))
    alice.check_owner("item-1", "alice")
    with pytest.raises(ItemNotFound):
        alice.check_owner("item-2", "bob")
    with pytest.raises(NotAllowed):
        alice.require(Scope.ITEMS_WRITE)
    with pytest.raises(NotAllowed):
        alice.acting_user("bob")
    service = Principal("ops", PrincipalKind.SERVICE, frozenset({"link:write"}))
    service.check_owner("item-2", "bob")
    assert service.acting_user("bob") == "bob"
    with pytest.raises(NotAllowed):
        service.acting_user(None)
    admin = Principal("root", PrincipalKind.USER, frozenset({"admin"}))
    assert admin.has(Scope.ITEMS_WRITE) and admin.restricted_to is None
    admin.check_owner("item-2", "bob")
    assert alice.restricted_to == "alice" and service.restricted_to is None
