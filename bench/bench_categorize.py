"""The categorizer's pure decision (`Model.predict`), next to a raw limit over the same strings, same run.

The mix: one emulated Item's history (the descriptors a Plaid sync delivers, in the emulator's proportions of
purchases, payroll, transfers and fees) plus the labelled sets (`services/categorizer/tests/eval/`: 1,299
descriptors in the shapes of a dozen US banks and card processors), cycled to N transactions. The model keeps
no cache, so a repeated string costs what a new one does.
- `categorize.model_load`: `Model.load()`, reading and checking the data files (the process's start cost).
- `categorize.raw_lower_split`: the raw limit: a loop that only lowercases and splits the same strings.
- `categorize.tokens`: the normalization alone (processor prefix, dates, phones, punctuation, masks).
- `categorize.predict`: the whole decision incl. normalization, one process, one thread. Target: >= 20,000/s.
Each figure is the best of three passes (other tenants share this machine's cores).
`uv run python bench/bench_categorize.py [--quick]` prints the rows as JSON.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from categorizer.domain.descriptors import Descriptors
from categorizer.domain.model import MODEL_NAME, Model

EVAL = Path(__file__).resolve().parent.parent / "services" / "categorizer" / "tests" / "eval"


def _mix() -> list[tuple[str, float]]:
    from plaid_emulator.data.generator import BLOCK, Generator, Profile

    accounts = {"checking": "acc-chk", "savings": "acc-sav", "credit card": "acc-cc"}
    gen = Generator(Profile("bench-item", 424242, 730, 4 * BLOCK * 5, date(2026, 11, 1), accounts))
    out = [
        (t.get("original_description") or t["name"], t["amount"])
        for block in range(20)
        for t in gen.historical_block(block)
    ]
    for name in ("holdout", "dev2", "dev"):
        with (EVAL / f"{name}.csv").open(newline="") as f:
            out.extend((r["description"], float(r["amount"])) for r in csv.DictReader(f))
    return out


def _best_rate(work: Callable[[], None], n: int, passes: int = 3) -> float:
    best = float("inf")
    for _ in range(passes):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return n / best


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 20_000 if quick else 200_000
    started = time.perf_counter()
    model = Model.load()
    load_s = time.perf_counter() - started
    mix = _mix()
    rows = [mix[i % len(mix)] for i in range(n)]
    descriptions = [d for d, _ in rows]
    tokens = Descriptors.load().tokens  # the normalization step alone, for the breakdown
    predict = model.predict

    def raw() -> None:
        for d in descriptions:
            d.lower().split()

    def normalize() -> None:
        for d in descriptions:
            tokens(d)

    def decide() -> None:
        for d, amount in rows:
            predict(d, amount)

    raw_rate = _best_rate(raw, n)
    tokens_rate = _best_rate(normalize, n)
    predict_rate = _best_rate(decide, n)
    covered = sum(predict(d, a) is not None for d, a in mix) / len(mix)
    common = {"transactions": n, "distinct_descriptors": len(mix), "model": MODEL_NAME}
    return [
        {"bench": "categorize.model_load", "metric": "seconds", "value": round(load_s, 3), "unit": "s"},
        {
            "bench": "categorize.raw_lower_split",
            "metric": "tx_per_s",
            "value": round(raw_rate),
            "unit": "1/s",
            **common,
        },
        {
            "bench": "categorize.tokens",
            "metric": "tx_per_s",
            "value": round(tokens_rate),
            "unit": "1/s",
            **common,
        },
        {
            "bench": "categorize.predict",
            "metric": "tx_per_s",
            "value": round(predict_rate),
            "unit": "1/s",
            "target": ">=20000",
            **common,
        },
        {
            "bench": "categorize.predict_vs_raw",
            "metric": "ratio",
            "value": round(predict_rate / raw_rate, 3),
            "unit": "",
        },
        {"bench": "categorize.predict", "metric": "coverage_of_mix", "value": round(covered, 3), "unit": ""},
    ]


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
