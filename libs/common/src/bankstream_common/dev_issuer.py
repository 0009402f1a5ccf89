"""The dev token issuer: an ES256 key pair kept under the state directory, for `make run` and tests only.

No service holds an issuer's private key in production: each is configured with PUBLIC keys. With
env=dev and no key configured, a service trusts this dev issuer's public key, and `python -m
link_svc.entrypoints.devtoken` mints tokens with its private key (created on first use, mode 0600).
A dev token names every service as its audience, so one token works on all of them.
"""

import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

DEV_KID = "bankstream-dev-1"
DEV_ISSUER = "bankstream-dev-issuer"
DEV_AUDIENCES = ("link-svc", "ledger-api", "categorizer", "sync-worker")


def state_dir() -> Path:
    base = os.environ.get("BANKSTREAM_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME", str(Path.home() / ".local" / "state")), "bankstream"
    )
    return Path(base)


def key_path() -> Path:
    return Path(
        os.environ.get("BANKSTREAM_DEV_ISSUER_KEY") or state_dir() / "link-svc" / "dev-issuer-es256.pem"
    )


def load_or_create_private_key(path: Path | None = None) -> ec.EllipticCurvePrivateKey:
    path = path or key_path()
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def mint(
    key: ec.EllipticCurvePrivateKey,
    *,
    subject: str,
    scopes: Iterable[str],
    kind: str = "user",
    audience: str | Iterable[str] = DEV_AUDIENCES,
    issuer: str = DEV_ISSUER,
    ttl: int = 3600,
    kid: str = DEV_KID,
) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience if isinstance(audience, str) else list(audience),
        "sub": subject,
        "kind": kind,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})
