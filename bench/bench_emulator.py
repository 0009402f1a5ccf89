"""Benchmark: how fast the Plaid emulator serves a /transactions/sync page of 500 transactions.

`run(quick)` starts an emulator (`python -m plaid_emulator` on a free loopback port, in a subprocess, so the
client does not share its GIL; not-ready delays 0, no rate limits) and, once per client kind:
- creates a fresh 100,000-transaction Item and polls /transactions/sync until it stops answering NOT_READY
  (its history is generated meanwhile): `emulator.item_ready`, seconds (target: about 1 s);
- walks it for the first time, pages of 500, from the page that reported it ready: `..._cold`, p50 / p99
  (target: p50 <= 10 ms) and pages/s;
- serves its first 20 pages again, round robin: `emulator.sync_page_500` (warm), p50 / p99, pages/s.
The clients: the standard library's http.client on one keep-alive connection (the transport under urllib3,
so under plaid-python; the target rows), and httpx (`..._httpx`, what the services use; it adds a few ms of
its own per 650 KB body). Each times the raw body read, not decoded. Then: `POST /emulator/items {"ready":
true}` for another 100,000-transaction Item (it answers once the data exists), and a few pages through
plaid-python (its parse and return-type checks included). The last row is the machine's load average:
other jobs share it. It stops the subprocess it started.
`uv run python bench/bench_emulator.py [--quick]` prints the rows as JSON (quick: 20,000 transactions).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
from percentiles import percentile


def _row(
    bench: str, metric: str, value: float, unit: str, target: str | None, **extra: Any
) -> dict[str, Any]:
    return {
        "bench": bench,
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "target": target,
        **extra,
    }


def _rows(name: str, samples_s: list[float], target: str | None, **extra: Any) -> list[dict[str, Any]]:
    ms = [s * 1000 for s in samples_s]
    extra["pages"] = len(ms)
    return [
        _row(name, "latency_ms_p50", statistics.median(ms), "ms", target, **extra),
        _row(name, "latency_ms_p99", percentile(ms, 0.99), "ms", None, **extra),
        _row(name, "pages_per_s", len(ms) / (sum(ms) / 1000), "1/s", None, **extra),
    ]


CLIENT_ID, SECRET = "bench-client", "bench-secret"
HEADERS = {"PLAID-CLIENT-ID": CLIENT_ID, "PLAID-SECRET": SECRET, "Content-Type": "application/json"}


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


class _Client:
    """POSTs /transactions/sync pages on one keep-alive connection and returns the raw body (not decoded).

    `kind` "http.client" is the standard library's client, the transport under urllib3 and so under
    plaid-python; "httpx" is what the pipeline's own services use; it spends a few ms more per 650 KB page
    reading the body in Python (h11), which is the client's time, not the emulator's.
    """

    def __init__(self, url: str, kind: str) -> None:
        self.kind = kind
        host, port = url.removeprefix("http://").split(":")
        self._http = httpx.Client(base_url=url, headers=HEADERS, timeout=60) if kind == "httpx" else None
        self._conn = http.client.HTTPConnection(host, int(port), timeout=60)

    def sync(self, token: str, cursor: str) -> bytes:
        body = json.dumps({"access_token": token, "cursor": cursor, "count": 500})
        if self._http is not None:
            return self._http.post("/transactions/sync", content=body).content
        self._conn.request("POST", "/transactions/sync", body=body, headers=HEADERS)
        response = self._conn.getresponse()
        raw = response.read()
        if response.status != 200:
            raise RuntimeError(raw.decode())
        return raw

    def close(self) -> None:
        self._conn.close()
        if self._http is not None:
            self._http.close()


def _first_walk(client: _Client, url: str, volume: int) -> tuple[float, list[float], list[str]]:
    """Create a fresh Item (not-ready delay 0) and poll until it stops answering NOT_READY (its history is
    generated meanwhile); then walk it for the first time from there: (seconds until the answer that reports
    it ready, which is its first page; the latencies of the pages after it, every one served for the first
    time; the cursors)."""
    started = time.perf_counter()
    token = httpx.post(f"{url}/emulator/items", json={"transactions": volume}, timeout=60).json()[
        "access_token"
    ]
    while True:
        body = json.loads(client.sync(token, ""))
        if body["transactions_update_status"] != "NOT_READY":
            break
        time.sleep(0.02)  # a poll costs the server a request: not too often
    ready_s = time.perf_counter() - started
    cold: list[float] = []
    cursors = [""]
    while body["has_more"]:
        assert len(body["added"]) == 500, body
        cursors.append(body["next_cursor"])
        t0 = time.perf_counter()
        raw = client.sync(token, cursors[-1])
        cold.append(time.perf_counter() - t0)
        body = json.loads(raw)
    cursors.append(token)  # last: the access token, for the warm pages
    return ready_s, cold, cursors


def _warm(client: _Client, token: str, cursors: list[str], repeats: int) -> list[float]:
    samples = []
    for i in range(repeats):
        t0 = time.perf_counter()
        client.sync(token, cursors[i % len(cursors)])
        samples.append(time.perf_counter() - t0)
    return samples


def run(quick: bool = False) -> list[dict[str, Any]]:
    import plaid
    from plaid.api import plaid_api
    from plaid.model.transactions_sync_request import TransactionsSyncRequest

    volume = 20_000 if quick else 100_000
    repeats = 60 if quick else 300
    sdk_repeats = 2 if quick else 5
    rows: list[dict[str, Any]] = []
    with emulator_process() as url:
        for kind, suffix in (("http.client", ""), ("httpx", "_httpx")):
            client = _Client(url, kind)
            try:
                ready_s, cold, cursors = _first_walk(client, url, volume)
                token, cursors = cursors[-1], cursors[:-1]
                warm = _warm(client, token, cursors[:20], repeats)  # the first pages again
            finally:
                client.close()
            extra = {"client": kind, "transactions": volume}
            rows.append(_row(f"emulator.item_ready{suffix}", "seconds", ready_s, "s", "~1", **extra))
            rows += _rows(
                f"emulator.sync_page_500_cold{suffix}", cold, "<=10" if not suffix else None, **extra
            )
            rows += _rows(f"emulator.sync_page_500{suffix}", warm, "<=10" if not suffix else None, **extra)

        # What tests do: POST /emulator/items {"ready": true} answers once the data exists.
        t0 = time.perf_counter()
        item = httpx.post(f"{url}/emulator/items", json={"ready": True, "transactions": volume}, timeout=60)
        ready = time.perf_counter() - t0
        rows.append(_row("emulator.item_ready_via_control", "seconds", ready, "s", "~1", transactions=volume))

        config = plaid.Configuration(host=url, api_key={"clientId": CLIENT_ID, "secret": SECRET})
        sdk_client = plaid_api.PlaidApi(plaid.ApiClient(config))
        sdk, cursor = [], ""
        for _ in range(sdk_repeats):
            t0 = time.perf_counter()
            request = TransactionsSyncRequest(
                access_token=item.json()["access_token"], cursor=cursor, count=500
            )
            result = sdk_client.transactions_sync(request)
            sdk.append(time.perf_counter() - t0)
            assert len(result.added) == 500
            cursor = result.next_cursor
        rows += _rows("emulator.sync_page_500_via_plaid_python", sdk, None)
    rows.append(_row("machine", "load_average_1min", os.getloadavg()[0], "", None, cpus=os.cpu_count()))
    return rows


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
