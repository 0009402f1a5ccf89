"""A throwaway JWT issuer for tests: services under test trust its public key, tests mint tokens with it.

TEST_ISSUER.env("LEDGER_API_")     # {"LEDGER_API_JWT_PUBLIC_KEYS": ..., "LEDGER_API_JWT_ISSUER": ...}
Settings(**TEST_ISSUER.fields(), ...)  # the same, as settings fields
TEST_ISSUER.bearer("alice", ["ledger:read"])              # {"Authorization": "Bearer ..."}
TEST_ISSUER.bearer("ops", ["ledger:read"], kind="service")
"""

import json
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric import ec

from ..dev_issuer import mint, public_pem

KID = "test-issuer-1"
ISSUER = "bankstream-test-issuer"


class TestIssuer:
    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())

    def env(self, prefix: str) -> dict[str, str]:
        return {
            f"{prefix}JWT_PUBLIC_KEYS": json.dumps({KID: public_pem(self.key)}),
            f"{prefix}JWT_ISSUER": ISSUER,
        }

    def fields(self) -> dict[str, object]:
        return {"jwt_public_keys": {KID: public_pem(self.key)}, "jwt_issuer": ISSUER}

    def token(self, subject: str, scopes: Iterable[str], *, kind: str = "user", ttl: int = 3600) -> str:
        return mint(self.key, subject=subject, scopes=scopes, kind=kind, issuer=ISSUER, ttl=ttl, kid=KID)

    def bearer(self, subject: str, scopes: Iterable[str], *, kind: str = "user") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, scopes, kind=kind)}"}


TEST_ISSUER = TestIssuer()
