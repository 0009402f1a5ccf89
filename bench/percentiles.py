"""The benches' one percentile: nearest rank (the smallest sample with at least q of all at or below it).

With n samples a p99 is a measured latency, not an interpolation; it is the largest one until n > 100,
so a bench that states a p99 takes more than 100 samples where it can.
"""

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """`q` in (0, 1]: percentile([1, 2, 3, 4], 0.5) is 2, percentile(list(range(1, 201)), 0.99) is 198."""
    ordered = sorted(samples)
    rank = math.ceil(round(q * len(ordered), 9))  # round: 0.07 * 100 is 7.000000000000001, rank 7
    return ordered[max(0, rank - 1)]
