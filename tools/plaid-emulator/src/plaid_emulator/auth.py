"""Client credentials: in the PLAID-CLIENT-ID / PLAID-SECRET headers (what plaid-python sends)
or in the body."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from .errors import PlaidApiError


def client_id_of(headers: Mapping[str, str], body: Mapping[str, Any]) -> str | None:
    value = headers.get("plaid-client-id") or body.get("client_id")
    return value if isinstance(value, str) else None


def check_credentials(
    headers: Mapping[str, str], body: Mapping[str, Any], client_id: str, secret: str
) -> None:
    given_id = client_id_of(headers, body)
    given_secret = headers.get("plaid-secret") or body.get("secret")
    missing = [name for name, value in (("client_id", given_id), ("secret", given_secret)) if not value]
    if missing:
        raise PlaidApiError("MISSING_FIELDS", ", ".join(missing))
    if not isinstance(given_secret, str):
        raise PlaidApiError("INVALID_API_KEYS")
    ok_id = hmac.compare_digest(str(given_id).encode(), client_id.encode())
    ok_secret = hmac.compare_digest(given_secret.encode(), secret.encode())
    if not (ok_id and ok_secret):
        raise PlaidApiError("INVALID_API_KEYS")
