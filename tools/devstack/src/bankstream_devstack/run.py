"""`make run`: the whole of bankstream on this machine, with demo data flowing.

Brings up Kafka and PostgreSQL (persistent, under the state directory), the Plaid emulator and every
service as child processes (logs in `<state>/logs/`), waits until each answers /readyz, links a demo Item
through the API, prints the URLs and a dev token, and stops everything on Ctrl-C (data is kept; `make
clean` removes it).
"""

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from . import processes
from .demo import mint_token, run_demo
from .errors import DevstackError
from .paths import state_dir
from .prometheus import Prometheus
from .stack import StackInfo, external_database_notice, persistent_down, persistent_up

DEMO_USER_SCOPES = ("items:read", "items:write", "link:write", "ledger:read", "ledger:write")
EMULATOR_CLIENT_ID = "bankstream-dev-client"
EMULATOR_SECRET = "bankstream-dev-secret"  # noqa: S105 - the emulator's public dev credential
PROMETHEUS_PORT = 9090  # unless BANKSTREAM_PROMETHEUS_PORT says otherwise (see prometheus_port)


@dataclass(frozen=True)
class ServicePorts:
    """Where each process of `make run` listens: `BANKSTREAM_<NAME>_PORT` (e.g. `BANKSTREAM_LINK_SVC_PORT`),
    else the defaults; each service is told its own through its `<PREFIX>HTTP_PORT` setting."""

    emulator: int = 8900
    link_svc: int = 8001
    sync_worker: int = 8002
    categorizer: int = 8003
    ledger_api: int = 8004

    @classmethod
    def from_env(cls) -> "ServicePorts":
        given = {
            name: int(os.environ[f"BANKSTREAM_{name.upper()}_PORT"])
            for name in cls.__dataclass_fields__
            if os.environ.get(f"BANKSTREAM_{name.upper()}_PORT")
        }
        return cls(**given)


@dataclass
class Child:
    name: str
    module: str
    port: int
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    ready_path: str = "/readyz"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return state_dir() / "logs" / f"{self.name}.log"


def dev_secrets() -> dict[str, str]:
    """Secrets of the dev stack, made once and kept (mode 0600) so restarts can read old data."""
    path = state_dir() / "dev-secrets.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    made = {"vault_key_id": "dev-k1", "vault_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(made))
    return made


def prometheus_port() -> int:
    """BANKSTREAM_PROMETHEUS_PORT when set; else 9090, or a free port when 9090 is taken (installing Debian's
    prometheus package may start a system Prometheus there), said aloud."""
    given = os.environ.get("BANKSTREAM_PROMETHEUS_PORT")
    if given:
        return int(given)
    if not processes.port_open(PROMETHEUS_PORT):
        return PROMETHEUS_PORT
    port = processes.free_port()
    print(f"make run: port {PROMETHEUS_PORT} is taken (a system Prometheus?): ours uses {port}", flush=True)
    return port


def children(info: StackInfo, ports: ServicePorts | None = None) -> list[Child]:
    ports = ports or ServicePorts.from_env()
    shared = {
        "DATABASE_URL": info.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": info.kafka_bootstrap_servers,
        "BANKSTREAM_ENV": "dev",
        "BANKSTREAM_STATE_DIR": str(state_dir()),
        "PLAID_ENV": "emulator",
        "PLAID_BASE_URL": f"http://127.0.0.1:{ports.emulator}",
        "PLAID_CLIENT_ID": EMULATOR_CLIENT_ID,
        "PLAID_SECRET": EMULATOR_SECRET,
    }
    s = dev_secrets()
    link = Child(
        "link-svc",
        "link_svc.entrypoints.main",
        ports.link_svc,
        env={
            **shared,
            "LINK_SVC_HTTP_PORT": str(ports.link_svc),
            "LINK_SVC_VAULT_KEYS": json.dumps({s["vault_key_id"]: s["vault_key"]}),
            "LINK_SVC_VAULT_ACTIVE_KEY_ID": s["vault_key_id"],
            "LINK_SVC_LINK_WEBHOOK_URL": f"http://127.0.0.1:{ports.link_svc}/v1/plaid/webhooks",
        },
    )
    sync_token = mint_token("--service", "sync-worker", "--scope", "vault:read")
    return [
        Child(
            "plaid-emulator",
            "plaid_emulator",
            ports.emulator,
            ready_path="/emulator/health",
            args=["--host", "127.0.0.1", "--port", str(ports.emulator)],
            env={
                "PLAID_EMULATOR_CLIENT_ID": EMULATOR_CLIENT_ID,
                "PLAID_EMULATOR_SECRET": EMULATOR_SECRET,
                # the Items link-svc remembers survive a restart of `make run`
                "PLAID_EMULATOR_SNAPSHOT": str(state_dir() / "plaid-emulator.json"),
            },
        ),
        link,
        Child(
            "sync-worker",
            "sync_worker.entrypoints.main",
            ports.sync_worker,
            env={
                **shared,
                "SYNC_WORKER_HTTP_PORT": str(ports.sync_worker),
                "SYNC_WORKER_LINK_SVC_URL": link.url,
                "SYNC_WORKER_LINK_SVC_TOKEN": sync_token,
            },
        ),
        Child(
            "categorizer",
            "categorizer.entrypoints.main",
            ports.categorizer,
            env={**shared, "CATEGORIZER_HTTP_PORT": str(ports.categorizer)},
        ),
        Child(
            "ledger-api",
            "ledger_api.entrypoints.main",
            ports.ledger_api,
            env={**shared, "LEDGER_API_HTTP_PORT": str(ports.ledger_api)},
        ),
    ]


def start(child: Child) -> None:
    processes.require_free(child.port, child.name)
    env = {**os.environ, **child.env}
    child.proc = processes.spawn([sys.executable, "-m", child.module, *child.args], child.log, env=env)


def wait_ready(child: Child, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        assert child.proc is not None
        if child.proc.poll() is not None:
            raise DevstackError(
                f"{child.name} exited with code {child.proc.returncode}: "
                f"{processes.last_line(child.log)} (log: {child.log})"
            )
        try:
            r = httpx.get(child.url + child.ready_path, timeout=2)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.25)
    raise DevstackError(f"{child.name} not ready after {timeout:.0f}s: {last} (log: {child.log})")


def stop_all(kids: list[Child]) -> None:
    for child in reversed(kids):
        if child.proc is not None and child.proc.poll() is None:
            processes.terminate(child.proc.pid, grace=15)


def main() -> int:
    kids: list[Child] = []
    prometheus: Prometheus | None = None
    stopping = False

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        started = time.monotonic()
        notice = external_database_notice()
        if notice:
            print(f"make run: {notice}", flush=True)
        info = persistent_up()
        print(
            f"infrastructure up in {time.monotonic() - started:.1f}s: kafka {info.kafka_bootstrap_servers}, "
            f"postgres {info.database_url}",
            flush=True,
        )
        os.environ["BANKSTREAM_STATE_DIR"] = str(state_dir())  # link-svc's dev issuer key lives there
        kids = children(info)
        for child in kids:
            start(child)
            wait_ready(child)
            print(f"  {child.name:<15} {child.url:<24} ready (log: {child.log})", flush=True)
        services = {c.name: f"127.0.0.1:{c.port}" for c in kids if c.name != "plaid-emulator"}
        prometheus = Prometheus(services, port=prometheus_port())
        prometheus.start()
        prometheus.wait_ready()
        print(f"  {'prometheus':<15} {prometheus.url:<24} {prometheus.summary()}", flush=True)
        # the demo user's token: link its Items (link-svc) and read and edit its ledger (ledger-api)
        token = mint_token("--sub", "demo-user", *(f"--scope={scope}" for scope in DEMO_USER_SCOPES))
        print(run_demo({c.name: c.url for c in kids}, token), flush=True)
        print("\nbankstream is running. Ctrl-C stops it (data is kept; `make clean` removes it).", flush=True)
        while not stopping:
            for child in kids:
                if child.proc is not None and child.proc.poll() is not None:
                    raise DevstackError(
                        f"{child.name} stopped with code {child.proc.returncode} (log: {child.log})"
                    )
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    except DevstackError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    finally:
        # Ctrl-C reaches make, uv and this process at once: a second SIGINT must not cut the stopping short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("stopping ...", flush=True)
        if prometheus is not None:
            prometheus.stop()
        stop_all(kids)
        persistent_down()


if __name__ == "__main__":
    sys.exit(main())
