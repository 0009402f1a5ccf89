"""The pipeline bench's outputs under bench/results/: pipeline.json (the rows), pipeline.md (a markdown
table: each scenario next to the floors and the baseline) and pipeline.png (throughput and freshness)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def _value(rows: list[dict], bench: str, metric: str) -> Any:
    return next((r["value"] for r in rows if r["bench"] == bench and r["metric"] == metric), None)


def _scenarios(rows: list[dict]) -> list[str]:
    names = [
        r["bench"].removeprefix("pipeline.backfill_") for r in rows if r["metric"] == "transactions_per_s"
    ]
    return [n for n in names if not n.startswith("pipeline.")]


def markdown(rows: list[dict]) -> str:
    raw_kafka = _value(rows, "pipeline.raw_kafka", "records_per_s")
    raw_copy = _value(rows, "pipeline.raw_copy", "rows_per_s")
    lines = [
        f"Raw floors, same run: one Kafka hop {raw_kafka:,}/s (produce + consume), "
        f"COPY into the ledger's table {raw_copy:,} rows/s.",
        "",
        "| backfill (Items x transactions) | pipeline tx/s | share of the slower floor | seed-001 tx/s "
        "| pipeline / seed-001 | CPU ms per 1,000 tx: services + their PostgreSQL sessions |",
        "|---|---|---|---|---|---|",
    ]
    for s in _scenarios(rows):
        b = f"pipeline.backfill_{s}"
        lines.append(
            f"| {s} | {_value(rows, b, 'transactions_per_s'):,} "
            f"| {_value(rows, b, 'ratio_to_raw_floor'):.2f} "
            f"| {_value(rows, f'pipeline.seed001_{s}', 'transactions_per_s'):,} "
            f"| {_value(rows, b, 'ratio_to_seed001')} | {_value(rows, b, 'service_cpu_ms_per_1000_tx'):,} "
            f"+ {_value(rows, b, 'database_cpu_ms_per_1000_tx'):,} |"
        )
    p50 = _value(rows, "pipeline.freshness", "p50_ms")
    if p50 is not None:
        lines += [
            "",
            f"Freshness (webhook received to ledger row visible, 100 webhooks/s): p50 {p50:,} ms, "
            f"p99 {_value(rows, 'pipeline.freshness', 'p99_ms'):,} ms.",
        ]
    reference = next((r for r in rows if r["bench"] == "pipeline.reference"), None)
    if reference is not None:
        lines.append(
            f"Reference workload: {reference['value']} ms before, {reference['after']} ms after "
            "(about 50 on a quiet machine)."
        )
    lines.append("Targets: >= 10,000 tx/s, >= 0.25 of the floor, >= 10x seed-001, freshness p99 <= 1,000 ms.")
    return "\n".join(lines) + "\n"


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = _scenarios(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    ys = range(len(scenarios))
    pipe = [_value(rows, f"pipeline.backfill_{s}", "transactions_per_s") for s in scenarios]
    seed = [_value(rows, f"pipeline.seed001_{s}", "transactions_per_s") for s in scenarios]
    left.barh([y + 0.2 for y in ys], pipe, height=0.4, label="pipeline (end to end)", color="tab:blue")
    left.barh([y - 0.2 for y in ys], seed, height=0.4, label="seed-001 baseline", color="tab:gray")
    for name, metric, style in (
        ("pipeline.raw_kafka", "records_per_s", "tab:green"),
        ("pipeline.raw_copy", "rows_per_s", "tab:purple"),
    ):
        value = _value(rows, name, metric)
        left.axvline(value, color=style, linestyle="--", label=f"{name.split('.')[1]} floor {value:,}/s")
    left.axvline(10_000, color="tab:red", linestyle=":", label="target 10,000/s")
    left.set_xscale("log")
    left.set_yticks(list(ys), [f"{s} " for s in scenarios])
    left.set_xlabel("transactions/s (log)")
    left.set_title("Backfill: first sync call to last ledger row")
    left.legend(fontsize=8, loc="lower right")
    p50, p99 = _value(rows, "pipeline.freshness", "p50_ms"), _value(rows, "pipeline.freshness", "p99_ms")
    if p50 is not None:
        right.bar(["p50", "p99"], [p50, p99], color=["tab:blue", "tab:orange"])
        right.axhline(1000, color="tab:red", linestyle=":", label="p99 target 1 s")
        right.legend(fontsize=8)
    right.set_ylabel("ms")
    right.set_title("Freshness at 100 webhooks/s")
    fig.suptitle(f"bankstream pipeline bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(rows: list[dict]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pipeline.json").write_text(json.dumps(rows, indent=2, default=str))
    (RESULTS / "pipeline.md").write_text(markdown(rows))
    chart(rows, RESULTS / "pipeline.png")
