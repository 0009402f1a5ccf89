"""Scriptable faults and Plaid's rate limits.

A fault rule matches an endpoint (or any) and an Item (or any); when it fires it adds latency and/or raises
a Plaid error, `count` times (None = until cleared) with a given probability. Rate limits count calls in a
sliding 60 s window per Item and per client, as Plaid's documented limits do.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import defaultdict, deque
from dataclasses import asdict, dataclass
from typing import Any

from .errors import PlaidApiError, is_known

# path -> (per Item per minute, per client per minute, error code)
RATE_LIMITS: dict[str, tuple[int, int, str]] = {
    "/transactions/sync": (50, 2500, "TRANSACTIONS_SYNC_LIMIT"),
    "/transactions/get": (30, 20000, "TRANSACTIONS_LIMIT"),
    "/transactions/refresh": (2, 100, "TRANSACTIONS_REFRESH_LIMIT"),
    "/accounts/balance/get": (25, 1200, "ACCOUNTS_BALANCE_GET_LIMIT"),
    "/accounts/get": (15, 15000, "ACCOUNTS_LIMIT"),
    "/item/get": (15, 5000, "ITEM_GET_LIMIT"),
}
WINDOW = 60.0


@dataclass
class FaultRule:
    id: int
    error_code: str | None = None
    endpoint: str | None = None
    item_id: str | None = None
    count: int | None = 1
    probability: float = 1.0
    latency_ms: float = 0.0
    fired: int = 0

    def matches(self, endpoint: str, item_id: str | None) -> bool:
        return (
            (self.endpoint is None or self.endpoint == endpoint)
            and (self.item_id is None or self.item_id == item_id)
            and (self.count is None or self.fired < self.count)
        )


class Faults:
    def __init__(self, seed: int, rate_limits: bool) -> None:
        self.rules: list[FaultRule] = []
        self.rate_limits_enabled = rate_limits
        self.limits = dict(RATE_LIMITS)
        self.window = WINDOW  # seconds; shorter only in tests that must wait out a window
        self._rng = random.Random(seed)
        self._ids = itertools.count(1)
        self._calls: defaultdict[tuple[str, str], deque[float]] = defaultdict(deque)

    def add(self, spec: dict[str, Any]) -> FaultRule:
        code = spec.get("error_code")
        if code is not None and not is_known(code):
            raise ValueError(f"unknown error_code {code}")
        fields = {
            k: spec[k]
            for k in ("error_code", "endpoint", "item_id", "count", "probability", "latency_ms")
            if k in spec
        }
        rule = FaultRule(next(self._ids), **fields)
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.rules]

    @staticmethod
    def describe_one(rule: FaultRule) -> dict[str, Any]:
        return asdict(rule)

    def check(self, endpoint: str, item_id: str | None) -> tuple[float, PlaidApiError | None]:
        """The latency (s) to add and the error to raise, if a rule fires."""
        for rule in self.rules:
            if rule.matches(endpoint, item_id) and self._rng.random() < rule.probability:
                rule.fired += 1
                error = PlaidApiError(rule.error_code) if rule.error_code else None
                return rule.latency_ms / 1000.0, error
        return 0.0, None

    def rate_limit(self, endpoint: str, client_id: str, item_id: str | None) -> None:
        limits = self.limits.get(endpoint)
        if not self.rate_limits_enabled or limits is None:
            return
        per_item, per_client, code = limits
        now = time.monotonic()
        keys = [((endpoint, f"client:{client_id}"), per_client)]
        if item_id:
            keys.append(((endpoint, f"item:{item_id}"), per_item))
        for key, limit in keys:
            calls = self._calls[key]
            while calls and calls[0] <= now - self.window:
                calls.popleft()
            if len(calls) >= limit:
                raise PlaidApiError(code)
        for key, _ in keys:
            self._calls[key].append(now)

    def degraded_roll(self) -> bool:
        """Whether a call to a degraded institution fails this time (one in four)."""
        return self._rng.random() < 0.25

    def reset_rate_limits(self) -> None:
        self._calls.clear()
