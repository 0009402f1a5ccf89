"""Accuracy of the categorizer's `model` tier, measured on sets that must not be confused.

1. `holdout.csv` (services/categorizer/tests/eval/): written after the model's current data was frozen and
   never used to tune it (see that folder's README). THE figure for generalization.
2. `dev2.csv`: the previous held-out set; measured once as such (keywords-v1), then tuned on. Regression only.
3. `dev.csv`: walked through while the first data was written. Regression only.
4. Transactions the Plaid emulator generates, labelled with the emulator's own PFC: NOT a generalization test
   (the emulator's merchants are a small fixed table), printed only to show the model agrees on that data too.

For each: accuracy at PFC primary and detailed level over all rows (a None counts as wrong), coverage (share
not None), and accuracy over the covered rows. `--misses` lists the held-out rows the model gets wrong.
`uv run python bench/eval_categorizer.py [--misses] [--json]`
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from categorizer.domain.model import MODEL_NAME, Model

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "services" / "categorizer" / "tests" / "eval"


def labelled_rows(name: str) -> list[dict[str, Any]]:
    """`holdout`, `dev2` or `dev`."""
    with (EVAL / f"{name}.csv").open(newline="") as f:
        return [
            {
                "description": r["description"],
                "amount": float(r["amount"]),
                "merchant_name": r["merchant_name"] or None,
                "primary": r["primary"],
                "detailed": r["detailed"],
            }
            for r in csv.DictReader(f)
        ]


def emulator_rows(count: int = 5000, seed: int = 20261129) -> list[dict[str, Any]]:
    """One emulated Item's history: the raw descriptor (original_description, else name) and amount, with
    the emulator's PFC as the label. The merchant_name Plaid would send is left out on purpose: the model tier
    serves transactions without a trustworthy enrichment."""
    from plaid_emulator.data.generator import BLOCK, Generator, Profile

    accounts = {"checking": "acc-chk", "savings": "acc-sav", "credit card": "acc-cc"}
    gen = Generator(Profile("eval-item", seed, 730, count, date(2026, 11, 1), accounts))
    out = []
    for block in range((count + BLOCK - 1) // BLOCK):
        for t in gen.historical_block(block):
            pfc = t["personal_finance_category"]
            out.append(
                {
                    "description": t.get("original_description") or t["name"],
                    "amount": t["amount"],
                    "merchant_name": None,
                    "primary": pfc["primary"],
                    "detailed": pfc["detailed"],
                }
            )
    return out


def evaluate(model: Model, rows: list[dict[str, Any]]) -> dict[str, Any]:
    covered = primary = detailed = 0
    misses = []
    for r in rows:
        p = model.predict(r["description"], r["amount"], r["merchant_name"])
        if p is not None:
            covered += 1
            primary += p.primary == r["primary"]
            detailed += p.detailed == r["detailed"]
        if p is None or p.detailed != r["detailed"]:
            misses.append((r, p))
    n = len(rows)
    return {
        "rows": n,
        "primary_accuracy": round(primary / n, 4),
        "detailed_accuracy": round(detailed / n, 4),
        "coverage": round(covered / n, 4),
        "primary_accuracy_when_covered": round(primary / covered, 4) if covered else 0.0,
        "detailed_accuracy_when_covered": round(detailed / covered, 4) if covered else 0.0,
        "misses": misses,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--misses", action="store_true", help="list the held-out rows the model gets wrong")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model = Model.load()
    results = {
        "held-out (generalization)": evaluate(model, labelled_rows("holdout")),
        "dev2 (NOT a generalization test)": evaluate(model, labelled_rows("dev2")),
        "dev (NOT a generalization test)": evaluate(model, labelled_rows("dev")),
        "emulator (NOT a generalization test)": evaluate(model, emulator_rows()),
    }
    report = {name: {k: v for k, v in r.items() if k != "misses"} for name, r in results.items()}
    print(f"model {MODEL_NAME}")
    print(f"{'set':<38} {'rows':>6} {'primary':>8} {'detailed':>9} {'coverage':>9} {'prim|cov':>9}")
    for name, r in report.items():
        print(
            f"{name:<38} {r['rows']:>6} {r['primary_accuracy']:>8.3f} {r['detailed_accuracy']:>9.3f} "
            f"{r['coverage']:>9.3f} {r['primary_accuracy_when_covered']:>9.3f}"
        )
    held = results["held-out (generalization)"]
    wrong_primary = Counter(r["primary"] for r, p in held["misses"] if p is None or p.primary != r["primary"])
    print("held-out rows wrong at primary level, by expected primary:", dict(wrong_primary.most_common()))
    if args.misses:
        for r, p in held["misses"]:
            got = "None" if p is None else f"{p.detailed} ({p.reason})"
            flag = "P" if p is None or p.primary != r["primary"] else "d"
            print(f"  [{flag}] {r['description']!r} {r['amount']}: want {r['detailed']}, got {got}")
    if args.json:
        print(json.dumps({"model": MODEL_NAME, **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
