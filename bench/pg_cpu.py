"""The CPU time PostgreSQL spent serving one client: the sum over its server processes (backends), read
from /proc, for a database server on this machine (the development stack's). A service's own CPU per
event leaves out the half of the work its database does; this gives the other half, so that a run on a
loaded machine can still say what one event costs in all (`1e6 / (ours + PostgreSQL's)` events/s per core).

    sampler = await BackendCpu.start(dsn, application_name)   # the client's backends at the start
    ...
    seconds = await sampler.seconds()                          # their CPU since (new backends: all of it)

The client must set an `application_name` no other client uses. None when the server is not local.
"""

import os

import asyncpg


def _cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BackendCpu:
    def __init__(self, dsn: str, application_name: str, baseline: dict[int, float]) -> None:
        self._dsn, self._name, self._baseline = dsn, application_name, baseline

    @classmethod
    async def start(cls, dsn: str, application_name: str) -> "BackendCpu":
        sampler = cls(dsn, application_name, {})
        sampler._baseline = await sampler._sample()
        return sampler

    async def _sample(self) -> dict[int, float]:
        conn = await asyncpg.connect(self._dsn)
        try:
            pids = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1", self._name
            )
        finally:
            await conn.close()
        return {r["pid"]: cpu for r in pids if (cpu := _cpu(r["pid"])) is not None}

    async def seconds(self) -> float | None:
        """CPU seconds of the client's backends since `start` (call before the client disconnects)."""
        now = await self._sample()
        if not now:
            return None
        return sum(cpu - self._baseline.get(pid, 0.0) for pid, cpu in now.items())
