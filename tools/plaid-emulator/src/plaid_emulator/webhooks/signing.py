"""Plaid's webhook signature: an ES256 JWT in the `Plaid-Verification` header whose claims are `iat` and
`request_body_sha256` (hex SHA-256 of the exact body bytes), signed by a P-256 key served as a JWK by
/webhook_verification_key/get. Rotation keeps the old key available with `expired_at` set."""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.utils import base64url_encode


@dataclass
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey
    created_at: int
    expired_at: int | None = None

    def jwk(self) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        return {
            "alg": "ES256",
            "crv": "P-256",
            "kid": self.kid,
            "kty": "EC",
            "use": "sig",
            "x": base64url_encode(numbers.x.to_bytes(32, "big")).decode(),
            "y": base64url_encode(numbers.y.to_bytes(32, "big")).decode(),
            "created_at": self.created_at,
            "expired_at": self.expired_at,
        }


class KeyRing:
    def __init__(self) -> None:
        self._keys: dict[str, SigningKey] = {}
        self.current = self._new()

    def _new(self) -> SigningKey:
        key = SigningKey(str(uuid.uuid4()), ec.generate_private_key(ec.SECP256R1()), int(time.time()))
        self._keys[key.kid] = key
        return key

    def rotate(self) -> SigningKey:
        self.current.expired_at = int(time.time())
        self.current = self._new()
        return self.current

    def get(self, kid: str) -> SigningKey | None:
        return self._keys.get(kid)

    def sign(self, body: bytes, key: SigningKey | None = None, iat: int | None = None) -> str:
        key = key or self.current
        claims = {
            "iat": int(time.time()) if iat is None else iat,
            "request_body_sha256": hashlib.sha256(body).hexdigest(),
        }
        return jwt.encode(claims, key.private, algorithm="ES256", headers={"kid": key.kid, "typ": "JWT"})
