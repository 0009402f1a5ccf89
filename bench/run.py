"""`make bench`: runs every bench/bench_*.py, prints a table and JSON, writes bench/results/latest.json and
latest.md (the same table in markdown); bench_pipeline also writes pipeline.{json,md,png} there.

Each module exposes `run(quick: bool) -> list[dict]` rows ({bench, metric, value, unit, target?, ...}).
Kafka and PostgreSQL come from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, else one throwaway local stack is
started for the whole run. `--quick` uses smaller volumes; names given on the command line select modules.
The topics a module creates (each bench names its own, never `bankstream.*`) are deleted after it, as the
benches drop their schemas: on a long-lived local broker they piled up by the thousand until it ran out of
file descriptors.
"""

import argparse
import asyncio
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import re
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent


def _infra() -> contextlib.AbstractContextManager[object]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DATABASE_URL"):
        return contextlib.nullcontext()
    from bankstream_devstack.stack import throwaway_stack

    @contextlib.contextmanager
    def stack():
        with throwaway_stack() as info:
            os.environ["KAFKA_BOOTSTRAP_SERVERS"] = info.kafka_bootstrap_servers
            os.environ["DATABASE_URL"] = info.database_url
            yield info

    return stack()


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _met(row: dict) -> str:
    """'yes' / 'NO' for a `>=N` or `<=N` target; empty where there is none or it is not a bound (`~1`)."""
    match = re.fullmatch(r"(>=|<=)\s*([0-9.]+)", str(row.get("target", "")))
    if match is None or not isinstance(row.get("value"), int | float):
        return ""
    bound = float(match.group(2))
    return "yes" if (row["value"] >= bound if match.group(1) == ">=" else row["value"] <= bound) else "NO"


def _shown(value: object) -> str:
    if isinstance(value, float) and value < 100:
        return f"{value:,.3f}"
    return f"{value:,}" if isinstance(value, int | float) else str(value)


def _table(rows: list[dict]) -> str:
    lines = [f"{'bench':<38} {'metric':<26} {'value':>12} {'unit':<6} {'target':<8} {'met':<4}"]
    for r in rows:
        shown = _shown(r.get("value"))
        lines.append(
            f"{r['bench']:<38} {r['metric']:<26} {shown:>12} {r.get('unit', ''):<6} "
            f"{r.get('target') or '':<8} {_met(r):<4}"
        )
    return "\n".join(lines)


def _markdown(rows: list[dict]) -> str:
    lines = ["| bench | metric | value | unit | target | met |", "|---|---|---|---|---|---|"]
    for r in rows:
        shown = _shown(r.get("value"))
        cells = [r["bench"], r["metric"], shown, r.get("unit", ""), r.get("target") or "", _met(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _reference_ms() -> float:
    """A fixed single-core workload (hashing and JSON), best of five: this machine's speed drifts (other
    tenants share its cores), and this row lets runs taken at different moments be compared."""
    payload = [{"id": i, "name": f"merchant {i}", "amount": i * 1.25, "tags": ["a"]} for i in range(2000)]
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(20):
            hashlib.sha256(json.dumps(payload).encode()).hexdigest()
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def _topics() -> set[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    async def listed() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    return asyncio.run(listed())


def _delete_topics_created_since(before: set[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    created = sorted(t for t in _topics() - before if not t.startswith(("bankstream.", "__")))
    if not created:
        return

    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
        await admin.start()
        try:
            await admin.delete_topics(created)
        finally:
            await admin.close()

    asyncio.run(delete())
    print(f"  deleted the {len(created)} topics it created", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--pipeline-sizes",
        help="bench_pipeline's backfills, Items x transactions: 1x100000,100x1000,1000x100",
    )
    parser.add_argument("only", nargs="*", help="module names, e.g. bench_outbox_relay")
    args = parser.parse_args()
    if args.pipeline_sizes:
        os.environ["BENCH_PIPELINE_SIZES"] = args.pipeline_sizes
    modules = sorted(p for p in HERE.glob("bench_*.py") if not args.only or p.stem in args.only)
    reference = {
        "bench": "machine",
        "metric": "reference_workload_ms",
        "value": _reference_ms(),
        "unit": "ms",
    }
    rows: list[dict] = [reference]
    failed = []
    with _infra():
        for path in modules:
            started = time.perf_counter()
            print(f"running {path.stem} ...", file=sys.stderr, flush=True)
            before = _topics()
            try:
                rows.extend(_load(path).run(quick=args.quick))
            except Exception:
                failed.append(path.stem)
                traceback.print_exc()
            finally:
                _delete_topics_created_since(before)
            print(f"  {path.stem} took {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
    rows.append({**reference, "metric": "reference_workload_ms_after", "value": _reference_ms()})
    report = {
        "time": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "quick": args.quick,
        "results": rows,
        "failed": failed,
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(report, indent=2))
    (out / "latest.md").write_text(_markdown(rows))
    print(_table(rows))
    print(json.dumps(report, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
