"""The whole of bankstream as processes, started exactly as `make run` starts them (run.py's `children`,
`start`, `wait_ready`), for the end-to-end tests, the chaos run and the pipeline benchmark.

    with running_services(info, state=tmp, prefix="e2e1a2b.") as stack:
        token = stack.token("user-1", "link:write", "ledger:read")
        httpx.get(stack.url("ledger-api") + "/v1/transactions", headers=bearer(token))
        stack.kill("sync-worker")            # SIGKILL, as a crash
        stack.restart("sync-worker")         # started again, waited until ready

`prefix` gives every topic, schema and consumer group of this stack a name of its own, so it can share a
broker and a database with a developer's `make run`. Extra settings per process (`env={"plaid-emulator":
{...}}`) are laid over make run's, never instead of them. Leaving the block stops every process.
"""

import contextlib
import os
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import processes
from .demo import mint_token
from .run import Child, ServicePorts, children, start, stop_all, wait_ready
from .stack import StackInfo

SERVICES = ("link-svc", "sync-worker", "categorizer", "ledger-api")
ENV_PREFIX = {"link-svc": "LINK_SVC_", "sync-worker": "SYNC_WORKER_", "categorizer": "CATEGORIZER_",
              "ledger-api": "LEDGER_API_"}  # fmt: skip


def free_ports() -> ServicePorts:
    return ServicePorts(*(processes.free_port() for _ in range(5)))


def isolation_env(prefix: str) -> dict[str, dict[str, str]]:
    """Topics `<prefix>bankstream.*`, schemas `<prefix>_<service>`, consumer groups `<service>-<prefix>`."""
    if not prefix:
        return {}
    schema = prefix.strip(".").replace("-", "_").lower()
    out: dict[str, dict[str, str]] = {}
    for name, p in ENV_PREFIX.items():
        out[name] = {
            f"{p}TOPIC_PREFIX": prefix,
            f"{p}SCHEMA_NAME": f"{schema}_{name.replace('-', '_')}",
            f"{p}CONSUMER_GROUP": f"{name}-{schema}",
        }
    return out


@dataclass
class RunningStack:
    info: StackInfo
    state: Path
    kids: dict[str, Child]
    prefix: str

    def url(self, name: str) -> str:
        return self.kids[name].url

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def token(self, subject: str, *scopes: str, service: bool = False) -> str:
        """A dev bearer token from link-svc's dev issuer of this stack's state directory."""
        who = ["--service", subject] if service else ["--sub", subject]
        return mint_token(*who, *(f"--scope={s}" for s in scopes))

    def pid(self, name: str) -> int | None:
        proc = self.kids[name].proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """A crash: the signal to the process (group), then reaped."""
        proc = self.kids[name].proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def restart(self, name: str, timeout: float = 90.0) -> None:
        child = self.kids[name]
        if child.proc is not None and child.proc.poll() is None:
            self.kill(name, signal.SIGTERM)
        start(child)
        wait_ready(child, timeout)

    def check_alive(self) -> None:
        for child in self.kids.values():
            if child.proc is None or child.proc.poll() is not None:
                code = None if child.proc is None else child.proc.returncode
                raise AssertionError(f"{child.name} is not running (exit {code}, log {child.log})")


@contextlib.contextmanager
def _state_dir(state: Path) -> Iterator[None]:
    """run.py and the dev issuer find the state directory in the environment, as under `make run`."""
    before = os.environ.get("BANKSTREAM_STATE_DIR")
    os.environ["BANKSTREAM_STATE_DIR"] = str(state)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("BANKSTREAM_STATE_DIR", None)
        else:
            os.environ["BANKSTREAM_STATE_DIR"] = before


@contextlib.contextmanager
def running_services(
    info: StackInfo,
    *,
    state: Path,
    prefix: str = "",
    ports: ServicePorts | None = None,
    env: Mapping[str, Mapping[str, str]] | None = None,
    ready_timeout: float = 90.0,
) -> Iterator[RunningStack]:
    """The emulator and the four services on `info`'s broker and database, their logs under `state/logs`."""
    state.mkdir(parents=True, exist_ok=True)
    with _state_dir(state):
        kids = children(info, ports or free_ports())
        extra = isolation_env(prefix)
        for name, more in (env or {}).items():
            extra.setdefault(name, {}).update(more)
        for child in kids:
            child.env.update(extra.get(child.name, {}))
        try:
            for child in kids:
                start(child)
                wait_ready(child, ready_timeout)
            yield RunningStack(info, state, {c.name: c for c in kids}, prefix)
        finally:
            stop_all(kids)
