"""One settings object for the emulator, built once by the entrypoint and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class EmulatorConfig:
    client_id: str = "bankstream-dev-client"
    secret: str = "bankstream-dev-secret"  # noqa: S105 - the documented development default
    seed: int = 42
    # Seconds (simulated clock) after an Item's creation before its last 30 days are ready
    # (INITIAL_UPDATE_COMPLETE), then before the whole history is (HISTORICAL_UPDATE_COMPLETE).
    not_ready_delay: float = 1.0
    historical_delay: float = 2.0
    # Seconds (simulated clock) between /transactions/refresh answering and the new data landing
    # (announced by SYNC_UPDATES_AVAILABLE): Plaid answers at once and finds the data later.
    refresh_delay: float = 1.0
    # Multiplies Plaid's webhook retry delays (30 s, then x4): 0.001 turns 30 s into 30 ms.
    webhook_time_scale: float = 1.0
    webhook_timeout: float = 10.0
    # Transactions per Item over its whole window; None means 4 per day of `days_requested`.
    default_transactions: int | None = None
    rate_limits: bool = True
    # Transactions per Item generated ahead, while it is NOT_READY (about 1 KB each); the rest lazily.
    prepared_transactions: int = 200_000
    # Exempt generated histories from garbage collection (gc.freeze): for a process of the emulator's own.
    gc_freeze: bool = False
    # Simulated clock: starts at `start_time` (None = now) and, if `realtime`, flows with the wall clock.
    start_time: datetime | None = None
    realtime: bool = True
    # An optional snapshot file: Items survive a restart (read at start, written every
    # `snapshot_interval` seconds and on shutdown). None: state in memory only.
    snapshot: str | None = None
    snapshot_interval: float = 5.0
    # Background housekeeping period (readiness, simulated days, webhooks).
    tick_interval: float = 0.2

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> EmulatorConfig:
        """Read `PLAID_EMULATOR_<FIELD>` variables (upper-case field names); explicit overrides win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"PLAID_EMULATOR_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)


def _parse(name: str, raw: str) -> object:
    if name in ("client_id", "secret", "snapshot"):
        return raw
    if name in ("seed", "default_transactions", "prepared_transactions"):
        return int(raw)
    if name in ("rate_limits", "realtime", "gc_freeze"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if name == "start_time":
        return datetime.fromisoformat(raw)
    return float(raw)
