"""Plaid's sandbox institutions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Institution:
    institution_id: str
    name: str
    oauth: bool = False
    health: str = "HEALTHY"  # HEALTHY | DEGRADED | DOWN
    datetimes: bool = False  # returns `datetime`/`authorized_datetime` ("for select financial institutions")
    primary_color: str = "#1f1f1f"
    url: str = "https://plaid.com"

    def to_dict(self, include_optional_metadata: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "institution_id": self.institution_id,
            "name": self.name,
            "products": ["assets", "auth", "balance", "transactions", "identity", "transactions_refresh"],
            "country_codes": ["US"],
            "routing_numbers": ["011401533", "021200339"],
            "dtc_numbers": [],
            "oauth": self.oauth,
            "connection_availability": "NOT_SUPPORTED" if self.health == "DOWN" else "SUPPORTED",
        }
        if include_optional_metadata:
            out.update(url=self.url, primary_color=self.primary_color, logo=None)
        return out


SANDBOX = {
    i.institution_id: i
    for i in (
        Institution("ins_109508", "First Platypus Bank", primary_color="#1f5a99"),
        Institution("ins_109509", "First Gingham Credit Union", primary_color="#7a1f5a"),
        Institution("ins_109510", "Tattersall Federal Credit Union", primary_color="#2e7d32"),
        Institution("ins_109511", "Tartan Bank", primary_color="#8b0000", datetimes=True),
        Institution("ins_109512", "Houndstooth Bank", primary_color="#333333"),
        Institution("ins_127287", "Platypus OAuth Bank", oauth=True, primary_color="#1f5a99"),
        Institution("ins_132363", "Unhealthy Platypus Bank - Degraded", health="DEGRADED"),
        Institution("ins_132361", "Unhealthy Platypus Bank - Down", health="DOWN"),
    )
}
