"""link-svc under the unauthenticated abuse issue 14 measured (docs/security.md, "Measured"): what each
refusal costs now, each figure next to a raw figure of the same run (the same route with a small body,
/healthz idle, link-token latency with nothing else running and during a flood of cheap 401s).

What runs: the Plaid emulator and link-svc as processes (plaid_emulator.testing.running_emulator,
ServiceUnderTest: the way the tests start them), a schema and topic prefix of their own. Driven over raw
loopback sockets so a body can be declared, streamed chunked, or cut:
- a 40 MB JSON body to `POST /v1/link-tokens` without a token, `Content-Length` declared, then chunked: time
  to the answer, /healthz latency meanwhile (a prober on its own connection), the service's RSS and CPU;
- an 8 MB bearer token, alone and four at once, with /healthz meanwhile;
- 2,000 webhooks signed by a key Plaid never issued, kids half Plaid-shaped (UUIDs), half not: key fetches
  and `plaid_calls` rows they caused, link-token latency during the flood against before it;
- a webhook body nested 3,000 deep that the emulator really signed: the answer and its time, next to a
  normal signed webhook.
"""

import asyncio
import base64
import hashlib
import json
import os
import random
import statistics
import string
import time
import uuid
from contextlib import ExitStack
from typing import Any

import asyncpg
import jwt
from bankstream_common.testing.issuer import TEST_ISSUER
from bankstream_common.testing.service_process import ServiceUnderTest, running_service
from cryptography.hazmat.primitives.asymmetric import ec
from plaid_emulator.testing import RunningEmulator, running_emulator

BIG = 40 * 1024 * 1024
CHUNK = 64 * 1024
ROUNDS = 3
FLOOD = 2000
FLOOD_CLIENTS = 16
KEY_PATH = "/webhook_verification_key/get"


# -- raw HTTP over loopback ---------------------------------------------------------------------------------


async def _answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def _request(port: int, head: bytes, body: bytes = b"", *, chunked: bool = False) -> tuple[int, float]:
    """(status, seconds from the first byte sent to the whole answer read); the body is written alongside,
    so a server that answers before reading it is timed as such (its writes then fail, which is fine)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def feed() -> None:
        try:
            if chunked:
                for i in range(0, len(body), CHUNK):
                    part = body[i : i + CHUNK]
                    writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            else:
                for i in range(0, len(body), 1024 * 1024):
                    writer.write(body[i : i + 1024 * 1024])
                    await writer.drain()
            await writer.drain()
        except (ConnectionError, OSError):
            pass

    started = time.perf_counter()
    writer.write(head)
    sender = asyncio.create_task(feed())
    try:
        status = await _answer(reader)
        return status, time.perf_counter() - started
    finally:
        sender.cancel()
        writer.close()


def _head(method: str, path: str, *, length: int | None, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class _Prober:
    """GET /healthz on one keep-alive connection, back to back with a 5 ms pause, while `running`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.latencies: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "_Prober":
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)

        async def loop() -> None:
            try:
                while True:
                    started = time.perf_counter()
                    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    await _answer(reader)
                    self.latencies.append(time.perf_counter() - started)
                    await asyncio.sleep(0.005)
            finally:
                writer.close()

        self._task = asyncio.create_task(loop())
        await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    @property
    def max_ms(self) -> float:
        return round(max(self.latencies) * 1000, 2)


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


def _cpu_s(pid: int) -> float:
    """CPU seconds of the process's live threads, from the scheduler (ns; /proc/<pid>/stat counts 10 ms ticks,
    too coarse for a refusal that costs a few ms)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return total / 1e9


def _expect(what: str, got: object, want: object) -> None:
    """A figure only means something if the attack was answered as the fix says: fail the bench otherwise."""
    if got != want:
        raise RuntimeError(f"{what}: answered {got}, expected {want}")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# -- the four measurements ----------------------------------------------------------------------------------


async def _oversized(port: int, pid: int) -> list[dict[str, Any]]:
    small = b"{}"
    body = b'{"pad": "' + b"x" * (BIG - 12) + b'"}'
    path = "/v1/link-tokens"
    raw = [await _request(port, _head("POST", path, length=len(small)), small) for _ in range(20)]
    async with _Prober(port) as idle:
        await asyncio.sleep(0.5)
    rows: list[dict[str, Any]] = [
        {
            "metric": "small_body_no_token_ms",
            "value": _ms(statistics.median(t for _, t in raw)),
            "status": raw[0][0],
            "note": "raw: the same route, `{}` without a token, median of 20",
        },
        {
            "metric": "healthz_idle_max_ms",
            "value": idle.max_ms,
            "note": "raw: /healthz over 0.5 s, nothing else",
        },
    ]
    rss_before = peak = _rss_mb(pid)
    for mode in ("declared", "chunked"):
        times, statuses = [], set()
        cpu = _cpu_s(pid)
        async with _Prober(port) as during:
            for _ in range(ROUNDS):
                length = None if mode == "chunked" else len(body)
                status, seconds = await _request(
                    port, _head("POST", path, length=length), body, chunked=mode == "chunked"
                )
                times.append(seconds)
                statuses.add(status)
                peak = max(peak, _rss_mb(pid))
        cpu = _cpu_s(pid) - cpu
        _expect(f"40 MB {mode}", statuses, {413})
        rows += [
            {
                "metric": f"{mode}_refuse_ms",
                "value": _ms(statistics.median(times)),
                "status": sorted(statuses),
                "note": f"40 MB to {path} without a token, median of {ROUNDS}",
            },
            {"metric": f"{mode}_healthz_max_ms", "value": during.max_ms, "probes": len(during.latencies)},
            {
                "metric": f"{mode}_cpu_ms",
                "value": _ms(cpu / ROUNDS),
                "note": "link-svc process CPU per refused body",
            },
        ]
    after = _rss_mb(pid)
    rows += [
        {"metric": "rss_before_mb", "value": rss_before, "unit": "MB"},
        {"metric": "rss_peak_mb", "value": peak, "unit": "MB", "note": "sampled after each refusal"},
        {
            "metric": "rss_after_mb",
            "value": after,
            "unit": "MB",
            "note": f"after {2 * ROUNDS} refused 40 MB bodies",
        },
        {"metric": "rss_growth_mb", "value": round(peak - rss_before, 1), "unit": "MB", "target": "<=16"},
    ]
    return rows


async def _big_token(port: int, pid: int) -> list[dict[str, Any]]:
    path = "/v1/link-tokens"
    token = "Bearer " + "a" * (8 * 1024 * 1024)

    def head(bearer: str) -> bytes:
        return _head("POST", path, length=2, headers={"Authorization": bearer})

    raw = [await _request(port, head("Bearer not.a.jwt"), b"{}") for _ in range(20)]
    cpu = _cpu_s(pid)
    alone = [await _request(port, head(token), b"{}") for _ in range(ROUNDS)]
    cpu = _cpu_s(pid) - cpu
    async with _Prober(port) as during:
        started = time.perf_counter()
        four = await asyncio.gather(*(_request(port, head(token), b"{}") for _ in range(4)))
        wall = time.perf_counter() - started
    # the server refuses the unfinished 8 MB head (400) before the app's 8 KiB Authorization cap (401) sees it
    _expect("8 MB tokens", {s for s, _ in alone + four}, {400})
    return [
        {
            "metric": "small_token_ms",
            "value": _ms(statistics.median(t for _, t in raw)),
            "status": raw[0][0],
            "note": "raw: the same route, a short malformed bearer, median of 20",
        },
        {
            "metric": "refuse_ms",
            "value": _ms(statistics.median(t for _, t in alone)),
            "status": sorted({s for s, _ in alone}),
            "note": f"median of {ROUNDS}, one at a time",
        },
        {"metric": "cpu_ms", "value": _ms(cpu / ROUNDS), "note": "link-svc CPU per refusal"},
        {"metric": "x4_wall_ms", "value": _ms(wall), "status": sorted({s for s, _ in four})},
        {"metric": "x4_healthz_max_ms", "value": during.max_ms, "probes": len(during.latencies)},
    ]


def _kid(i: int) -> str:
    """Half Plaid-shaped (a UUID, as Plaid's kids are), half not: short junk, or over the 200-char cap."""
    if i % 2 == 0:
        return str(uuid.uuid4())
    if i % 4 == 1:
        return "".join(random.choices(string.ascii_letters + string.punctuation, k=random.randint(1, 40)))
    return uuid.uuid4().hex * 8


async def _flood_with(
    port: int, requests: list[tuple[bytes, bytes]], link: bytes, pid: int
) -> tuple[dict[int, int], list[float], float, float]:
    """`requests` over FLOOD_CLIENTS connections while one more posts link tokens back to back: (statuses,
    link-token latencies meanwhile, seconds, link-svc CPU seconds)."""
    queue = list(requests)
    statuses: dict[int, int] = {}
    during: list[float] = []
    done = asyncio.Event()

    async def sender() -> None:
        while queue:
            head, body = queue.pop()
            status, _ = await _request(port, head, body)
            statuses[status] = statuses.get(status, 0) + 1

    async def linker() -> None:
        while not done.is_set():
            status, seconds = await _request(port, link, b"{}")
            _expect("a link token during the flood", status, 201)
            during.append(seconds)

    cpu = _cpu_s(pid)
    started = time.perf_counter()
    probe = asyncio.create_task(linker())
    await asyncio.gather(*(sender() for _ in range(FLOOD_CLIENTS)))
    elapsed = time.perf_counter() - started
    done.set()
    await probe
    return statuses, during, elapsed, _cpu_s(pid) - cpu


async def _flood(port: int, dsn: str, schema: str, pid: int) -> list[dict[str, Any]]:
    link = _head(
        "POST", "/v1/link-tokens", length=2, headers=TEST_ISSUER.bearer("bench-user", ["link:write"])
    )
    body = json.dumps(
        {
            "webhook_type": "TRANSACTIONS",
            "webhook_code": "SYNC_UPDATES_AVAILABLE",
            "item_id": "bench-flood",
            "initial_update_complete": True,
            "historical_update_complete": False,
            "environment": "sandbox",
        }
    ).encode()
    key = ec.generate_private_key(ec.SECP256R1())  # not Plaid's: these webhooks are forged
    claims = {"iat": int(time.time()), "request_body_sha256": hashlib.sha256(body).hexdigest()}
    forged = [
        (
            _head(
                "POST",
                "/v1/plaid/webhooks",
                length=len(body),
                headers={
                    "Plaid-Verification": jwt.encode(
                        claims, key, algorithm="ES256", headers={"kid": _kid(i), "typ": "JWT"}
                    )
                },
            ),
            body,
        )
        for i in range(FLOOD)
    ]
    cheap = [(_head("POST", "/v1/link-tokens", length=2), b"{}")] * FLOOD  # 401s, no Plaid call
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})

    async def audit() -> tuple[int, int]:
        row = await conn.fetchrow(
            "SELECT count(*) AS all, count(*) FILTER (WHERE endpoint = $1) AS keys FROM plaid_calls", KEY_PATH
        )
        return int(row["all"]), int(row["keys"])

    try:
        idle = [await _request(port, link, b"{}") for _ in range(30)]
        _expect("link tokens", {status for status, _ in idle}, {201})
        before = [seconds for _, seconds in idle]
        _, control, control_s, control_cpu = await _flood_with(port, cheap, link, pid)
        calls_before, keys_before = await audit()
        statuses, during, elapsed, cpu = await _flood_with(port, forged, link, pid)
        calls_after, keys_after = await audit()
    finally:
        await conn.close()
    _expect("forged webhooks", statuses, {401: FLOOD})
    link_calls = len(during)  # each link token is one /link/token/create row
    p50 = statistics.median
    return [
        {
            "metric": "webhooks_sent",
            "value": FLOOD,
            "unit": "webhooks",
            "statuses": statuses,
            "seconds": round(elapsed, 2),
            "clients": FLOOD_CLIENTS,
            "note": "half the kids UUIDs (Plaid-shaped), half not; signed by a key Plaid never issued",
        },
        {
            "metric": "key_fetches",
            "value": keys_after - keys_before,
            "unit": "calls",
            "target": "<=5",  # LINK_SVC_WEBHOOK_KEY_FETCH_BURST's default; the flood lasts < 10 s
            "note": f"{KEY_PATH} rows in plaid_calls (one per call that reached the emulator)",
        },
        {
            "metric": "plaid_calls_rows",
            "value": calls_after - calls_before - link_calls,
            "unit": "rows",
            "note": f"plaid_calls rows added during the flood, less the {link_calls} link tokens probing it",
        },
        {
            "metric": "cpu_ms_per_webhook",
            "value": round(cpu / FLOOD * 1000, 3),
            "unit": "ms",
            "note": "link-svc CPU during the flood (link-token probes included) per forged webhook",
        },
        {
            "metric": "control_cpu_ms_per_req",
            "value": round(control_cpu / FLOOD * 1000, 3),
            "unit": "ms",
            "note": "raw: the same, flooding `{}` without a token to /v1/link-tokens instead (a 401 each)",
        },
        {
            "metric": "link_token_p50_idle_ms",
            "value": _ms(p50(before)),
            "note": "raw: POST /v1/link-tokens (to the emulator), 30 sequential, nothing else running",
        },
        {
            "metric": "link_token_p50_control_ms",
            "value": _ms(p50(control)),
            "samples": len(control),
            "seconds": round(control_s, 2),
            "note": "raw: during the control flood (same clients, cheap 401s)",
        },
        {"metric": "link_token_p50_flood_ms", "value": _ms(p50(during)), "samples": link_calls},
        {"metric": "flood_over_idle", "value": round(p50(during) / p50(before), 2), "unit": "x"},
        {"metric": "flood_over_control", "value": round(p50(during) / p50(control), 2), "unit": "x"},
    ]


async def _nested(port: int, emu: RunningEmulator) -> list[dict[str, Any]]:
    def signed(body: bytes) -> bytes:
        header = str(emu.control("POST", "/webhooks/sign", {"body": body.decode()})["plaid_verification"])
        return _head("POST", "/v1/plaid/webhooks", length=len(body), headers={"Plaid-Verification": header})

    def body(item: str, extra: bytes = b"") -> bytes:
        return b'{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"%s"%s}' % (
            item.encode(),
            extra,
        )

    warm = body("bench-warm")
    await _request(port, signed(warm), warm)  # fetches the emulator's key once; both below find it cached
    out = []
    for name, sent in (
        ("normal", body("bench-normal")),
        ("nested", body("bench-deep", b',"x":' + b"[" * 3000 + b"]" * 3000)),
    ):
        status, seconds = await _request(port, signed(sent), sent)
        _expect(f"a signed {name} webhook", status, 200 if name == "normal" else 401)
        note = (
            "raw: a normal signed webhook, the key cached (verified, recorded)"
            if name == "normal"
            else "a body the emulator signed, nested 3,000 deep (verified, then refused unparsed)"
        )
        out.append(
            {
                "metric": f"signed_{name}_ms",
                "value": _ms(seconds),
                "status": status,
                "bytes": len(sent),
                "note": note,
            }
        )
    return out


def run(quick: bool = False) -> list[dict[str, Any]]:
    dsn, kafka = os.environ["DATABASE_URL"], os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    schema = f"bench_harden_{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        emu = stack.enter_context(running_emulator())
        service = ServiceUnderTest(
            script="link-svc",
            env_prefix="LINK_SVC_",
            env={
                "PLAID_BASE_URL": emu.url,
                "PLAID_CLIENT_ID": emu.client_id,
                "PLAID_SECRET": emu.secret,
                "LINK_SVC_VAULT_KEYS": json.dumps({"k1": base64.urlsafe_b64encode(os.urandom(32)).decode()}),
                "LINK_SVC_VAULT_ACTIVE_KEY_ID": "k1",
                "LINK_SVC_SCHEMA_NAME": schema,
                "LINK_SVC_LOG_LEVEL": "WARNING",
            },
        )
        proc = stack.enter_context(running_service(service, database_url=dsn, kafka_bootstrap_servers=kafka))
        pid = proc.process.pid

        async def main() -> list[tuple[str, list[dict[str, Any]]]]:
            return [
                ("link.http_body_40mb", await _oversized(proc.port, pid)),
                ("link.http_token_8mb", await _big_token(proc.port, pid)),
                ("link.http_nested_webhook", await _nested(proc.port, emu)),
                ("link.http_kid_flood_2000", await _flood(proc.port, dsn, schema, pid)),
            ]

        try:
            groups = asyncio.run(main())
        finally:
            asyncio.run(_drop_schema(dsn, schema))
    return [
        {"bench": bench, "unit": "ms" if row["metric"].endswith("_ms") else "", **row}
        for bench, rows in groups
        for row in rows
    ]


async def _drop_schema(dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(row)
