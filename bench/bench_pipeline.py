"""The whole pipeline, end to end: Plaid (the emulator) → link-svc → sync-worker → categorizer → ledger-api,
every service a process started as `make run` starts it (bench/pipeline_stack.py), on the real broker and
database. Each figure is printed next to the physical floor measured in the same run.

    pipeline.backfill_<M>x<N>   M Items of N transactions, linked through link-svc's API (outside the
                                clock); then the sync-worker starts. Clock: from the first
                                /transactions/sync call (sync_runs.started_at) to the moment the ledger
                                holds all M x N rows (polled every 50 ms: the clock can only run long),
                                every one categorized. Also each service's CPU per 1,000 transactions
                                (PostgreSQL and Kafka, shared with other tenants, are not counted).
    pipeline.raw_kafka          the floor of a Kafka hop: the very TransactionChanged records of the first
                                scenario, produced (the idempotent producer, acks=all, as the relay) and
                                consumed by a bare aiokafka consumer at the same time, first send to last
                                record read. The pipeline crosses Kafka twice per transaction.
    pipeline.raw_copy           the floor of PostgreSQL: the ledger rows of that scenario COPYed into the
                                ledger's table of a fresh schema.
    pipeline.seed001_<M>x<N>    the baseline (bench/baseline_seed001.py) over the same emulator, Items of
                                the same shape.
    pipeline.freshness          webhook received (link-svc's webhook_deliveries.received_at) to the new
                                 ledger row visible (a poll of the ledger's change table every 20 ms): open
                                loop, 50 updates/s spread over the Items of the freshness scenario, each a
                                new pending transaction the emulator announces as Plaid does with two
                                webhooks (SYNC_UPDATES_AVAILABLE, DEFAULT_UPDATE): 100 webhooks/s.

Sizes: `BENCH_PIPELINE_SIZES` (`make bench` passes `--pipeline-sizes`), e.g. `1x100000,100x1000,1000x100`;
the freshness runs on the scenario with the most Items up to 100. Writes bench/results/pipeline.{json,md,png}.
Targets: >= 10,000 transactions/s, >= 25% of the slower floor, >= 10x the baseline, freshness p99 <= 1 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import pipeline_flows as flows
from pipeline_report import write_outputs
from pipeline_stack import database_cpu, database_cpu_delta, pipeline_stack

FULL_SIZES = "1x100000,100x1000,1000x100"
QUICK_SIZES = "1x10000,10x1000,100x100"
PORT_BASE = int(os.environ.get("BENCH_PIPELINE_PORT_BASE", "8220"))
FRESHNESS_RATE = 50  # updates/s; each announced with two webhooks: 100 webhooks/s at link-svc
# the baseline stores about 100-300 transactions/s: it runs over the first BASELINE_SAMPLE transactions
# of the same shape (whole pages; for M x N, the first Items), its rate is per transaction either way
BASELINE_SAMPLE = 5_000


def _sizes(quick: bool) -> list[tuple[int, int]]:
    spec = os.environ.get("BENCH_PIPELINE_SIZES") or (QUICK_SIZES if quick else FULL_SIZES)
    return [(int(m), int(n)) for m, n in (part.lower().split("x") for part in spec.split(",") if part)]


def _row(bench: str, metric: str, value: Any, unit: str, target: str | None = None, **extra: Any) -> dict:
    row = {"bench": bench, "metric": metric, "value": value, "unit": unit, **extra}
    if target:
        row["target"] = target
    return row


def _scenario(
    dsn: str, kafka: str, items: int, per_item: int, floors: dict, fresh: float, quick: bool
) -> list[dict]:
    name = f"pipeline.backfill_{items}x{per_item}"
    rows: list[dict] = []
    with pipeline_stack(dsn, kafka, per_item=per_item, port_base=PORT_BASE) as stack:
        stack.start("plaid-emulator", "link-svc", "categorizer", "ledger-api")
        started = time.perf_counter()
        item_ids = asyncio.run(flows.link_items(stack, items))
        link_s = time.perf_counter() - started
        cpu_before, db_before = stack.cpu_seconds(), asyncio.run(database_cpu(stack))
        stack.start("sync-worker")
        # the worker's start-up (imports, migrations, its page processes) is not backfill work: its CPU is
        # counted from the moment it answers /readyz (it may have begun paging: that bit goes uncounted)
        cpu_before["sync-worker"] = stack.cpu_seconds()["sync-worker"]
        result = asyncio.run(flows.watch_backfill(stack, items * per_item))
        cpu = {k: v - cpu_before.get(k, 0.0) for k, v in stack.cpu_seconds().items()}
        db = database_cpu_delta(db_before, asyncio.run(database_cpu(stack)))
        rate = result["transactions"] / result["seconds"]
        if not floors:
            floors.update(asyncio.run(flows.floors(stack, result["transactions"])))
        floor = min(floors["raw_kafka"], floors["raw_copy"])
        rows += [
            _row(name, "transactions_per_s", round(rate), "1/s", ">=10000",
                 seconds=round(result["seconds"], 2), transactions=result["transactions"],
                 linking_s=round(link_s, 1)),
            _row(name, "ratio_to_raw_floor", round(rate / floor, 3), "", ">=0.25"),
            _row(name, "service_cpu_ms_per_1000_tx", round(sum(cpu.values()) * 1e6 / result["transactions"]),
                 "ms", by_service={k: round(v * 1e6 / result["transactions"]) for k, v in cpu.items()}),
            _row(name, "database_cpu_ms_per_1000_tx", round(sum(db.values()) * 1e6 / result["transactions"]),
                 "ms", by_service={k: round(v * 1e6 / result["transactions"]) for k, v in db.items()}),
        ]  # fmt: skip
        if fresh:
            try:
                fr = asyncio.run(flows.freshness(stack, item_ids, FRESHNESS_RATE, fresh))
            except Exception as exc:  # the backfill figures stand; say why this one is missing
                fr = {}
                rows.append(_row("pipeline.freshness", "error", f"{type(exc).__name__}: {exc}", ""))
        if fresh and fr:
            rows += [
                _row("pipeline.freshness", "p50_ms", fr["p50_ms"], "ms", webhooks=fr["webhooks"],
                     updates_per_s=FRESHNESS_RATE, webhooks_per_s=2 * FRESHNESS_RATE, items=items,
                     updates_refused=fr["updates_refused"]),
                _row("pipeline.freshness", "p99_ms", fr["p99_ms"], "ms", "<=1000", max_ms=fr["max_ms"],
                     never_visible=fr["never_visible"], rows_without_webhook=fr["rows_without_webhook"],
                     update_to_row_p99_ms=fr["update_to_row_p99_ms"]),
                _row("pipeline.freshness", "service_cpu_ms_per_update", fr["cpu_ms_per_webhook"], "ms",
                     by_service=fr["cpu_by_service"], database_cpu_ms=fr["db_cpu_ms_per_webhook"]),
            ]  # fmt: skip
        base = asyncio.run(flows.baseline(stack, items, per_item, BASELINE_SAMPLE // (2 if quick else 1)))
        base_rate = base["transactions"] / base["seconds"]
        rows += [
            _row(f"pipeline.seed001_{items}x{per_item}", "transactions_per_s", round(base_rate), "1/s",
                 seconds=round(base["seconds"], 2), transactions=base["transactions"],
                 cpu_ms_per_1000_tx=base["cpu_ms_per_1000_tx"],
                 database_cpu_ms_per_1000_tx=base["db_cpu_ms_per_1000_tx"]),
            _row(name, "ratio_to_seed001", round(rate / base_rate, 2), "x", ">=10"),
        ]  # fmt: skip
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    from run import _reference_ms  # bench/run.py's fixed workload: how loaded the machine was

    dsn, kafka = os.environ["DATABASE_URL"], os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    reference = _reference_ms()
    sizes = _sizes(quick)
    fresh_at = max((s for s in sizes if s[0] <= 100), default=None)
    floors: dict[str, float] = {}
    rows: list[dict] = []
    for items, per_item in sizes:
        fresh = (10.0 if quick else 30.0) if (items, per_item) == fresh_at else 0.0
        try:
            done = _scenario(dsn, kafka, items, per_item, floors, fresh, quick)
        except Exception as exc:  # the other scenarios' figures stand; say why this one is missing
            done = [
                _row(f"pipeline.backfill_{items}x{per_item}", "error", f"{type(exc).__name__}: {exc}", "")
            ]
        print("\n".join(json.dumps(r) for r in done), file=sys.stderr, flush=True)
        rows += done
    if not floors:
        raise RuntimeError(f"no scenario finished: {rows}")
    rows[0:0] = [
        _row("pipeline.raw_kafka", "records_per_s", round(floors["raw_kafka"]), "1/s",
             records=floors["records"], record_bytes=floors["record_bytes"]),
        _row("pipeline.raw_copy", "rows_per_s", round(floors["raw_copy"]), "1/s", rows=floors["records"]),
    ]  # fmt: skip
    rows.append(_row("pipeline.reference", "reference_workload_ms", reference, "ms", after=_reference_ms()))
    write_outputs(rows)
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", help=f"e.g. {FULL_SIZES}")
    args = parser.parse_args()
    if args.sizes:
        os.environ["BENCH_PIPELINE_SIZES"] = args.sizes
    print(json.dumps(run(quick=args.quick), indent=2))
