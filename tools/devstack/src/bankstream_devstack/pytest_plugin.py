"""Session fixtures: one real Kafka broker and one real PostgreSQL server per test session.

Where they come from, in order: endpoints given by `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL`; a Docker
engine through testcontainers; local processes started by this package (and stopped when the session ends,
pass or fail). Nothing starts unless a test asks for it.
"""

import atexit
import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .stack import throwaway_stack


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap_servers: str
    database_url: str
    origin: str


def _docker_available() -> bool:
    if os.environ.get("BANKSTREAM_NO_DOCKER") or shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def _docker_infra(need_kafka: bool, need_db: bool) -> Iterator[tuple[str | None, str | None]]:
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with contextlib.ExitStack() as stack:
        kafka = db = None
        if need_kafka:
            kafka = stack.enter_context(KafkaContainer().with_kraft()).get_bootstrap_server()
        if need_db:
            pg = stack.enter_context(PostgresContainer("postgres:16", driver=None))
            db = pg.get_connection_url()
        yield kafka, db


@contextlib.contextmanager
def provide_infra() -> Iterator[Infra]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    db = os.environ.get("DATABASE_URL")
    if kafka and db:
        yield Infra(kafka, db, "environment")
        return
    if _docker_available():
        with _docker_infra(not kafka, not db) as (dk, ddb):
            yield Infra(kafka or dk or "", db or ddb or "", "docker")
        return
    with throwaway_stack() as info:
        yield Infra(kafka or info.kafka_bootstrap_servers, db or info.database_url, "local processes")


_active: list[contextlib.ExitStack] = []


@atexit.register
def _stop_leftovers() -> None:
    while _active:
        _active.pop().close()


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    stack = contextlib.ExitStack()
    _active.append(stack)
    try:
        yield stack.enter_context(provide_infra())
    finally:
        stack.close()
        if stack in _active:
            _active.remove(stack)


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(infra: Infra) -> str:
    return infra.kafka_bootstrap_servers


@pytest.fixture(scope="session")
def database_url(infra: Infra) -> str:
    return infra.database_url
