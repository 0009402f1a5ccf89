"""Sign Plaid-style webhooks for tests: P-256 keys as Plaid publishes them, and every forgery we refuse."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str = field(default_factory=lambda: uuid.uuid4().hex)
    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    expired_at: int | None = None

    def jwk(self) -> dict[str, Any]:
        public = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        return {
            "alg": "ES256",
            "crv": "P-256",
            "kid": self.kid,
            "kty": "EC",
            "use": "sig",
            "x": public["x"],
            "y": public["y"],
            "created_at": int(time.time()) - 86400,
            "expired_at": self.expired_at,
        }

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, body: bytes, *, iat: float | None = None, body_hash: str | None = None) -> str:
        claims = {
            "iat": int(iat if iat is not None else time.time()),
            "request_body_sha256": body_hash or hashlib.sha256(body).hexdigest(),
        }
        return jwt.encode(claims, self.private, algorithm="ES256", headers={"kid": self.kid, "typ": "JWT"})


def unsigned(body: bytes, kid: str) -> str:
    """`alg: none`: a header and claims with an empty signature."""
    header = b64url(json.dumps({"alg": "none", "kid": kid, "typ": "JWT"}).encode())
    claims = b64url(
        json.dumps(
            {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(body).hexdigest()}
        ).encode()
    )
    return f"{header}.{claims}."


def hs256_with_public_key(body: bytes, key: SigningKey) -> str:
    """The classic confusion attack: HMAC-SHA256 keyed with the verifier's own public key."""
    header = b64url(json.dumps({"alg": "HS256", "kid": key.kid, "typ": "JWT"}).encode())
    claims = b64url(
        json.dumps(
            {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(body).hexdigest()}
        ).encode()
    )
    signing_input = f"{header}.{claims}".encode()
    sig = hmac.new(key.public_pem(), signing_input, hashlib.sha256).digest()
    return f"{header}.{claims}.{b64url(sig)}"


def webhook_body(
    item_id: str, webhook_type: str = "TRANSACTIONS", code: str = "SYNC_UPDATES_AVAILABLE", **extra: Any
) -> bytes:
    return json.dumps(
        {
            "webhook_type": webhook_type,
            "webhook_code": code,
            "item_id": item_id,
            "environment": "sandbox",
            **extra,
        }
    ).encode()
