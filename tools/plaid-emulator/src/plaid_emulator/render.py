"""Transactions as a response shows them, depending on the request's options."""

from __future__ import annotations

from typing import Any

from .data import pfc
from .errors import PlaidApiError
from .ledger import Txn


class View:
    def __init__(self, options: dict[str, Any], datetimes: bool = False) -> None:
        self.datetimes = datetimes  # the institution provides times (a default time of day, 00:00:00)
        self.original = bool(options.get("include_original_description"))
        self.pfc_version = options.get("personal_finance_category_version") or "v2"
        if self.pfc_version not in ("v1", "v2"):
            raise PlaidApiError("INVALID_FIELD", "options.personal_finance_category_version must be v1 or v2")

    def __call__(self, txn: Txn) -> Txn:
        if self.original and self.pfc_version == "v2" and not self.datetimes:
            return txn
        out = dict(txn)
        if self.datetimes:
            out["datetime"] = f"{txn['date']}T00:00:00Z"
            authorized = txn["authorized_date"]
            out["authorized_datetime"] = f"{authorized}T00:00:00Z" if authorized else None
        if not self.original:
            out["original_description"] = None
        if self.pfc_version == "v1":
            category = txn["personal_finance_category"]
            out["personal_finance_category"] = pfc.render(
                category["detailed"], category["confidence_level"], "v1"
            )
        return out
