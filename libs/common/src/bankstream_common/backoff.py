"""Exponential backoff with full jitter (each delay uniform in [0, min(cap, base * 2**attempt)])."""

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base: float = 0.1
    cap: float = 10.0
    max_attempts: int = 5

    def delay(self, attempt: int) -> float:
        """The pause before retry number `attempt` (0 for the first retry)."""
        return random.uniform(0, min(self.cap, self.base * (2**attempt)))
