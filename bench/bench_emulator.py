"""Benchmark: how fast the Plaid emulator serves a /transactions/sync page of 500 transactions.

`run(quick)` starts an emulator (`python -m plaid_emulator` on a free loopback port, in a subprocess, so the
client does not share its GIL), creates a 100,000-transaction Item, and times pages of 500: raw HTTP with a
keep-alive httpx client, body read but not decoded (the target: p50 <= 10 ms), the same pages cold (first
time generated), and through plaid-python (its parse and return-type checks included). It stops the
subprocess it started. `uv run python bench/bench_emulator.py [--quick]` prints the rows as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _rows(name: str, samples_s: list[float], target: str | None) -> list[dict[str, Any]]:
    ms = [s * 1000 for s in samples_s]
    return [
        {
            "bench": name,
            "metric": "latency_ms_p50",
            "value": round(statistics.median(ms), 3),
            "unit": "ms",
            "target": target,
        },
        {
            "bench": name,
            "metric": "latency_ms_p99",
            "value": round(_percentile(ms, 0.99), 3),
            "unit": "ms",
            "target": None,
        },
        {
            "bench": name,
            "metric": "pages_per_s",
            "value": round(len(ms) / (sum(ms) / 1000), 1),
            "unit": "1/s",
            "target": None,
        },
    ]


CLIENT_ID, SECRET = "bench-client", "bench-secret"


@contextlib.contextmanager
def emulator_process() -> Iterator[str]:
    from plaid_emulator.testing import free_port

    port = free_port()
    env = {**os.environ, "PLAID_EMULATOR_CLIENT_ID": CLIENT_ID, "PLAID_EMULATOR_SECRET": SECRET}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plaid_emulator",
            "--port",
            str(port),
            "--not-ready-delay",
            "0",
            "--historical-delay",
            "0",
            "--no-rate-limits",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/emulator/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(quick: bool = False) -> list[dict[str, Any]]:
    import plaid
    from plaid.api import plaid_api
    from plaid.model.transactions_sync_request import TransactionsSyncRequest

    volume = 20_000 if quick else 100_000
    repeats = 60 if quick else 300
    sdk_repeats = 3 if quick else 10
    rows: list[dict[str, Any]] = []
    with emulator_process() as url:
        started = time.perf_counter()
        item = httpx.post(
            f"{url}/emulator/items", json={"ready": True, "transactions": volume}, timeout=60
        ).json()
        ready_s = time.perf_counter() - started
        rows.append(
            {
                "bench": "emulator.item_ready",
                "metric": "seconds",
                "value": round(ready_s, 3),
                "unit": "s",
                "target": "~1",
                "transactions": volume,
            }
        )
        headers = {"PLAID-CLIENT-ID": CLIENT_ID, "PLAID-SECRET": SECRET, "Content-Type": "application/json"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:

            def fetch(cursor: str) -> bytes:
                body = {"access_token": item["access_token"], "cursor": cursor, "count": 500}
                return http.post("/transactions/sync", content=json.dumps(body)).content

            def page(cursor: str) -> dict[str, Any]:
                return dict(json.loads(fetch(cursor)))

            # Cold: walk the Item from the start; every page is generated on first use.
            cold, cursors, cursor = [], [], ""
            for _ in range(min(repeats, volume // 500)):
                t0 = time.perf_counter()
                raw = fetch(cursor)
                cold.append(time.perf_counter() - t0)
                body = json.loads(raw)
                assert len(body["added"]) == 500, body
                cursors.append(cursor)
                cursor = body["next_cursor"]
            rows += _rows("emulator.sync_page_500_cold", cold, None)

            # Warm: the same first pages again (what a benchmark re-syncing an Item sees).
            warm_cursors = cursors[:20]
            for c in warm_cursors:
                assert len(page(c)["added"]) == 500
            warm = []
            for i in range(repeats):
                c = warm_cursors[i % len(warm_cursors)]
                t0 = time.perf_counter()
                fetch(c)
                warm.append(time.perf_counter() - t0)
            rows += _rows("emulator.sync_page_500", warm, "<=10")

        config = plaid.Configuration(host=url, api_key={"clientId": CLIENT_ID, "secret": SECRET})
        client = plaid_api.PlaidApi(plaid.ApiClient(config))
        sdk = []
        for i in range(sdk_repeats):
            c = warm_cursors[i % len(warm_cursors)]
            t0 = time.perf_counter()
            result = client.transactions_sync(
                TransactionsSyncRequest(access_token=item["access_token"], cursor=c, count=500)
            )
            sdk.append(time.perf_counter() - t0)
            assert len(result.added) == 500
        rows += _rows("emulator.sync_page_500_via_plaid_python", sdk, None)
    return rows


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
