"""The whole local infrastructure: one Kafka broker and one PostgreSQL server, up and down together.

`make run` uses a persistent stack under the state directory, recorded in `stack.json` so that `down` and
`status` find it from another process; the tests use a throwaway one in a temporary directory.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from . import processes
from .errors import DevstackError
from .kafka import KafkaBroker, env_heap
from .paths import state_dir
from .postgres import PostgresServer


@dataclass
class StackInfo:
    kafka_bootstrap_servers: str
    database_url: str
    kafka_pid: int | None
    kafka_port: int
    kafka_controller_port: int
    postgres_port: int | None
    root: str


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True)
class StackPorts:
    """A persistent stack's ports: flags of `devstack up`, else `BANKSTREAM_*_PORT`, else the defaults."""

    kafka: int = 9092
    kafka_controller: int = 9093
    postgres: int = 5433

    @classmethod
    def from_env(
        cls, kafka: int | None = None, kafka_controller: int | None = None, postgres: int | None = None
    ) -> "StackPorts":
        return cls(
            kafka=kafka or _int_env("BANKSTREAM_KAFKA_PORT", cls.kafka),
            kafka_controller=kafka_controller
            or _int_env("BANKSTREAM_KAFKA_CONTROLLER_PORT", cls.kafka_controller),
            postgres=postgres or _int_env("BANKSTREAM_PG_PORT", cls.postgres),
        )


def external_database_notice() -> str | None:
    """One line when a `DATABASE_URL` in the environment makes the stack use that server instead of starting
    PostgreSQL (said aloud: a variable left over from another shell otherwise points a stack elsewhere)."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return None
    parts = urlsplit(url)
    where = f"{parts.hostname or '?'}:{parts.port or 5432}{parts.path}"
    return (
        f"DATABASE_URL is set ({where}): using that PostgreSQL server and not starting one; "
        "unset DATABASE_URL for a PostgreSQL of the stack's own"
    )


class Stack:
    def __init__(
        self,
        root: Path,
        *,
        kafka_port: int,
        controller_port: int,
        pg_port: int | None,
        fast_pg: bool,
        env_database: bool = True,
    ) -> None:
        """`env_database=False`: start a PostgreSQL of its own even when `DATABASE_URL` names one (chaos
        restarts its database and must never touch a shared one)."""
        self.root = root
        self.kafka = KafkaBroker(root / "kafka", kafka_port, controller_port, heap=env_heap())
        external = os.environ.get("DATABASE_URL") if env_database else None
        self.external_db = external
        self.postgres = (
            None if external or pg_port is None else PostgresServer(root / "postgres", pg_port, fast=fast_pg)
        )

    @property
    def database_url(self) -> str:
        if self.external_db:
            return self.external_db
        assert self.postgres is not None
        return self.postgres.url

    def up(self) -> StackInfo:
        try:
            if self.postgres is not None:
                self.postgres.start()
            self.kafka.start()
        except BaseException:
            self.down()
            raise
        return self.info()

    def down(self) -> None:
        self.kafka.stop()
        if self.postgres is not None:
            self.postgres.stop()

    def info(self) -> StackInfo:
        return StackInfo(
            kafka_bootstrap_servers=self.kafka.bootstrap_servers,
            database_url=self.database_url,
            kafka_pid=self.kafka.pid,
            kafka_port=self.kafka.port,
            kafka_controller_port=self.kafka.controller_port,
            postgres_port=self.postgres.port if self.postgres else None,
            root=str(self.root),
        )


# -- the persistent stack of `make run` ---------------------------------------------------------------------


def _record(root: Path | None = None) -> Path:
    return (root or state_dir()) / "stack.json"


def persistent_up(root: Path | None = None, ports: StackPorts | None = None) -> StackInfo:
    """Start (or find running) the stack kept under `root` (default: the state directory)."""
    root = root or state_dir()
    existing = persistent_status(root)
    if existing is not None:
        return existing
    ports = ports or StackPorts.from_env()
    stack = Stack(
        root,
        kafka_port=ports.kafka,
        controller_port=ports.kafka_controller,
        pg_port=ports.postgres,
        fast_pg=False,
    )
    info = stack.up()
    _record(root).parent.mkdir(parents=True, exist_ok=True)
    _record(root).write_text(json.dumps(asdict(info), indent=2))
    return info


def persistent_status(root: Path | None = None) -> StackInfo | None:
    """The recorded stack when both of its servers still answer; None when nothing is up."""
    if not _record(root).exists():
        return None
    info = StackInfo(**json.loads(_record(root).read_text()))
    kafka_up = (
        info.kafka_pid is not None
        and processes.alive(info.kafka_pid)
        and processes.port_open(info.kafka_port)
    )
    pg_up = info.postgres_port is None or processes.port_open(info.postgres_port)
    if kafka_up and pg_up:
        return info
    if kafka_up or pg_up:
        raise DevstackError("the local stack is half up: run `make down` then `make run` again")
    return None


def persistent_down(root: Path | None = None) -> bool:
    if not _record(root).exists():
        return False
    info = StackInfo(**json.loads(_record(root).read_text()))
    if info.kafka_pid is not None:
        processes.terminate(info.kafka_pid, grace=30)
    if info.postgres_port is not None:
        PostgresServer(Path(info.root) / "postgres", info.postgres_port).stop()
    _record(root).unlink()
    return True


# -- the throwaway stack of the tests -----------------------------------------------------------------------


@contextmanager
def throwaway_stack() -> Iterator[StackInfo]:
    root = Path(tempfile.mkdtemp(prefix="bankstream-test-"))
    stack = Stack(
        root,
        kafka_port=processes.free_port(),
        controller_port=processes.free_port(),
        pg_port=processes.free_port(),
        fast_pg=True,
    )
    try:
        yield stack.up()
    finally:
        stack.down()
        shutil.rmtree(root, ignore_errors=True)
