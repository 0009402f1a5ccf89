"""The whole of bankstream as processes, for the pipeline bench: started by `make run`'s own functions
(`bankstream_devstack.run`: children, start, wait_ready, stop_all) on the bench's ports, each service with a
schema, a topic prefix and a consumer group of this stack alone, so it can share a Kafka broker and a
PostgreSQL server with anything else. Torn down at the end: processes stopped, schemas dropped, topics
deleted (left behind, they pile up on a shared broker).

Differences from `make run`, each because the bench measures throughput, not Plaid's patience: the
emulator makes Items ready at once (no not-ready or historical delay), has no rate limits and gives each
Item `per_item` transactions; the sync-worker does not pace its calls (`PLAID_SYNC_CALLS_PER_WINDOW=0`).
With Plaid's limits (50 sync calls per Item per minute) one Item of 100,000 could not go above ~400/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from bankstream_devstack import run as devrun
from bankstream_devstack.stack import StackInfo

SERVICES = {
    "link-svc": "LINK_SVC_",
    "sync-worker": "SYNC_WORKER_",
    "categorizer": "CATEGORIZER_",
    "ledger-api": "LEDGER_API_",
}
ORDER = ("plaid-emulator", "link-svc", "sync-worker", "categorizer", "ledger-api")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from `state` on; the name may hold spaces


def process_cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU of one process (with `reaped`, also of the children it has waited for)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def tree_cpu_seconds(root: int) -> float:
    """CPU of a process, its live descendants and the children it has reaped."""
    return sum(process_cpu_seconds(pid, reaped=pid == root) for pid in _tree_pids(root))


def _tree_pids(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            parents[int(entry)] = int(fields[1])
    out = []
    for pid in parents:
        walk = pid
        while walk not in (0, 1, root) and walk in parents:
            walk = parents[walk]
        if walk == root:
            out.append(pid)
    return out


def _local_ports(pids: list[int], remote_port: int) -> set[int]:
    """Local TCP ports of these processes' sockets connected to `remote_port` (their database sessions)."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[9] in inodes and int(cols[2].rsplit(":", 1)[1], 16) == remote_port:
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


async def database_cpu(stack: PipelineStack) -> dict[str, dict[int, float]]:
    """Per service, the CPU seconds so far of each PostgreSQL backend serving one of its connections
    (matched by the client port of its sockets): the database work done for it, which the server's
    other tenants do not blur. Only for a server on this machine (the backends must be in /proc)."""
    conn = await asyncpg.connect(stack.dsn)
    try:
        sessions = {
            r["client_port"]: r["pid"]
            for r in await conn.fetch("SELECT pid, client_port FROM pg_stat_activity WHERE client_port > 0")
        }
        server_port = await conn.fetchval("SELECT current_setting('port')::int")
    finally:
        await conn.close()
    out: dict[str, dict[int, float]] = {}
    for name, kid in stack.kids.items():
        if kid.proc is None or kid.proc.poll() is not None:
            continue
        backends = [sessions[p] for p in _local_ports(_tree_pids(kid.proc.pid), server_port) if p in sessions]
        out[name] = {pid: process_cpu_seconds(pid) for pid in backends}
    return out


def database_cpu_delta(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict:
    """CPU seconds per service between two samples (a session opened in between counts from zero)."""
    return {
        name: sum(cpu - before.get(name, {}).get(pid, 0.0) for pid, cpu in backends.items())
        for name, backends in after.items()
    }


@dataclass
class PipelineStack:
    uid: str
    dsn: str
    kafka: str
    kids: dict[str, devrun.Child]
    state: Path
    started: set[str] = field(default_factory=set)

    @property
    def prefix(self) -> str:
        return f"bp{self.uid}."

    def schema(self, service: str) -> str:
        return f"bp{self.uid}_{service.replace('-', '_')}"

    def url(self, name: str) -> str:
        return self.kids[name].url

    def start(self, *names: str) -> None:
        """Start these children at once, then wait until each answers its readiness probe."""
        for name in names:
            devrun.start(self.kids[name])
            self.started.add(name)
        for name in names:
            devrun.wait_ready(self.kids[name], timeout=180)

    def cpu_seconds(self) -> dict[str, float]:
        """Each running service's CPU seconds so far (its page-builder processes included)."""
        return {
            name: tree_cpu_seconds(kid.proc.pid)
            for name, kid in self.kids.items()
            if kid.proc is not None and kid.proc.poll() is None
        }

    def log(self, name: str) -> Path:
        return self.kids[name].log


def _configure(kids: dict[str, devrun.Child], uid: str, per_item: int) -> None:
    for name, env_prefix in SERVICES.items():
        kids[name].env.update(
            {
                f"{env_prefix}SCHEMA_NAME": f"bp{uid}_{name.replace('-', '_')}",
                f"{env_prefix}TOPIC_PREFIX": f"bp{uid}.",
                f"{env_prefix}CONSUMER_GROUP": f"bp{uid}-{name}",
            }
        )
    kids["sync-worker"].env["SYNC_WORKER_PLAID_SYNC_CALLS_PER_WINDOW"] = "0"
    emulator = kids["plaid-emulator"]
    emulator.env.pop("PLAID_EMULATOR_SNAPSHOT", None)
    emulator.args += [
        "--not-ready-delay", "0", "--historical-delay", "0", "--no-rate-limits",
        "--default-transactions", str(per_item), "--log-level", "warning",
    ]  # fmt: skip


async def _drop(dsn: str, kafka: str, uid: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    conn = await asyncpg.connect(dsn)
    try:
        for name in SERVICES:
            await conn.execute(f"DROP SCHEMA IF EXISTS bp{uid}_{name.replace('-', '_')} CASCADE")
    finally:
        await conn.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(f"bp{uid}.")]
        if topics:
            await admin.delete_topics(topics)
    finally:
        await admin.close()


@contextlib.contextmanager
def pipeline_stack(dsn: str, kafka: str, *, per_item: int, port_base: int) -> Iterator[PipelineStack]:
    """The stack with every child configured and nothing started yet (`stack.start(...)` starts them)."""
    uid = uuid.uuid4().hex[:6]
    state = Path(tempfile.mkdtemp(prefix=f"bench-pipeline-{uid}-"))
    saved = os.environ.get("BANKSTREAM_STATE_DIR")
    os.environ["BANKSTREAM_STATE_DIR"] = str(state)  # logs, the dev secrets, the dev issuer's key
    info = StackInfo(kafka, dsn, None, 0, 0, None, str(state))
    ports = devrun.ServicePorts(*(port_base + i for i in range(len(ORDER))))  # in ORDER
    kids = {kid.name: kid for kid in devrun.children(info, ports)}
    _configure(kids, uid, per_item)
    stack = PipelineStack(uid, dsn, kafka, kids, state)
    failed = False
    try:
        yield stack
    except BaseException:
        failed = True
        raise
    finally:
        devrun.stop_all([kids[name] for name in ORDER])
        with contextlib.suppress(Exception):
            asyncio.run(_drop(dsn, kafka, uid))
        if saved is None:
            os.environ.pop("BANKSTREAM_STATE_DIR", None)
        else:
            os.environ["BANKSTREAM_STATE_DIR"] = saved
        if failed:
            print(f"pipeline stack {uid}: logs kept in {state / 'logs'}", flush=True)
        else:
            shutil.rmtree(state, ignore_errors=True)
