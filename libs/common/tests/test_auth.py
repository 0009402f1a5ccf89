"""Bearer JWTs: issuer keys only, ES256/EdDSA only, audience/issuer/expiry enforced, scopes, who acts."""

import base64
import time

import jwt
import pytest
from bankstream_common.auth import Authenticator, NotAllowed, NotAuthenticated, Principal, PrincipalKind
from bankstream_common.dev_issuer import DEV_AUDIENCES, mint
from cryptography.hazmat.primitives.asymmetric import ec, ed25519


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


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
    assert who.user_id == "alice" and who.has("items:read") and not who.has("items:write")


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


def test_a_user_acts_only_for_itself_and_a_service_only_for_the_user_it_names() -> None:
    alice = Principal("alice", PrincipalKind.USER, frozenset({"items:read"}))
    assert alice.may_see("alice") and not alice.may_see("bob")
    with pytest.raises(NotAllowed):
        alice.require("items:write")
    with pytest.raises(NotAllowed):
        alice.acting_user("bob")
    assert alice.users_visible(None) == "alice"
    with pytest.raises(NotAllowed):
        alice.users_visible("bob")
    service = Principal("ops", PrincipalKind.SERVICE, frozenset({"link:write", "items:read"}))
    assert service.acting_user("bob") == "bob" and service.users_visible("bob") == "bob"
    assert not service.may_see("bob")  # naming nobody is not "everyone"
    assert service.may_see("bob", on_behalf_of="bob") and not service.may_see("carol", on_behalf_of="bob")
    with pytest.raises(NotAllowed, match="users:all"):
        service.acting_user(None)
    with pytest.raises(NotAllowed, match="users:all"):
        service.users_visible(None)
    admin = Principal("root", PrincipalKind.USER, frozenset({"admin"}))
    assert admin.has("items:write") and admin.every_user and admin.may_see("bob")
    assert admin.users_visible(None) is None and admin.users_visible("bob") == "bob"


def test_a_service_token_acts_for_every_user_only_with_users_all() -> None:
    reporting = Principal("reports", PrincipalKind.SERVICE, frozenset({"items:read", "users:all"}))
    assert reporting.every_user and reporting.may_see("bob") and reporting.users_visible(None) is None
    assert not reporting.may_see("carol", on_behalf_of="bob")
    assert not reporting.has("items:write")  # users:all widens whom, never what
    user = Principal("mallory", PrincipalKind.USER, frozenset({"items:read", "users:all"}))
    assert not user.every_user and not user.may_see("bob")  # a user token cannot claim it


def test_one_dev_token_is_accepted_by_every_service() -> None:
    dev = mint(KEY, subject="alice", scopes=["ledger:read"], issuer="iss", kid="k1")
    for audience in DEV_AUDIENCES:
        who = Authenticator({"k1": KEY.public_key()}, issuer="iss", audience=audience).authenticate(
            f"Bearer {dev}"
        )
        assert who.subject == "alice"
    with pytest.raises(NotAuthenticated, match="not meant for this service"):
        Authenticator({"k1": KEY.public_key()}, issuer="iss", audience="elsewhere").authenticate(
            f"Bearer {dev}"
        )


def test_a_token_living_longer_than_the_maximum_or_with_an_unstorable_subject_is_refused() -> None:
    short = Authenticator({"k1": KEY.public_key()}, issuer="iss", audience="link-svc", max_lifetime=3600)
    assert short.authenticate(f"Bearer {token(ttl=3600)}").subject == "alice"
    with pytest.raises(NotAuthenticated, match="longer than 3600"):
        short.authenticate(f"Bearer {token(ttl=3601 + 60)}")
    for bad in ("al\x00ice", "al\ud800ice"):
        forged = mint(KEY, subject=bad, scopes=[], issuer="iss", kid="k1", audience="link-svc")
        with pytest.raises(NotAuthenticated, match="subject is invalid"):
            AUTH.authenticate(f"Bearer {forged}")


def test_a_remembered_token_is_refused_once_it_expires_and_a_forged_one_is_never_taken_for_it() -> None:
    auth = Authenticator({"k1": KEY.public_key()}, issuer="iss", audience="link-svc", leeway=0)
    good = mint(KEY, subject="alice", scopes=["items:read"], issuer="iss", kid="k1", ttl=1)
    assert auth.authenticate(f"Bearer {good}").subject == "alice"
    head, payload, signature = good.split(".")
    other = b64url(bytes(b ^ 1 for b in base64.urlsafe_b64decode(signature + "==")))
    with pytest.raises(NotAuthenticated, match="does not verify"):
        auth.authenticate(f"Bearer {head}.{payload}.{other}")
    forged = b64url(b'{"sub":"mallory","scope":"admin"}')
    with pytest.raises(NotAuthenticated):
        auth.authenticate(f"Bearer {head}.{forged}.{signature}")
    assert auth.authenticate(f"Bearer {good}").subject == "alice"  # remembered, still valid
    time.sleep(max(0.0, jwt.decode(good, options={"verify_signature": False})["exp"] - time.time()) + 0.05)
    with pytest.raises(NotAuthenticated, match="expired"):
        auth.authenticate(f"Bearer {good}")


def test_the_remembered_tokens_are_bounded() -> None:
    auth = Authenticator({"k1": KEY.public_key()}, issuer="iss", audience="link-svc", remember=3)
    tokens = [mint(KEY, subject=f"user-{i}", scopes=[], issuer="iss", kid="k1") for i in range(5)]
    for t in tokens:
        auth.authenticate(f"Bearer {t}")
    assert len(auth._verified) == 3
    assert [who.subject for who, _ in auth._verified.values()] == ["user-2", "user-3", "user-4"]
