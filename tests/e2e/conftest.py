"""The end-to-end stack: the Plaid emulator and the four services as processes, started as `make run` starts
them (bankstream_devstack.harness), on the session's real broker and database, with topics, schemas and
consumer groups of their own. Tests drive it only through public HTTP APIs and the emulator's control API."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from bankstream_devstack.client import StackUser as User
from bankstream_devstack.client import eventually
from bankstream_devstack.harness import RunningStack, running_services
from bankstream_devstack.pytest_plugin import Infra
from bankstream_devstack.stack import StackInfo

__all__ = ["User", "eventually"]


@pytest.fixture(scope="package")
def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    info = StackInfo(infra.kafka_bootstrap_servers, infra.database_url, None, 0, 0, None, "")
    state = Path(tmp_path_factory.mktemp("e2e-state"))
    prefix = f"e2e{uuid.uuid4().hex[:8]}."
    emulator = {
        "PLAID_EMULATOR_SEED": str(uuid.uuid4().int % 2**31),
        "PLAID_EMULATOR_WEBHOOK_TIME_SCALE": "0.01",  # Plaid's retry delays, in hundredths
        "PLAID_EMULATOR_REFRESH_DELAY": "0.2",
    }
    with running_services(info, state=state, prefix=prefix, env={"plaid-emulator": emulator}) as running:
        yield running


@pytest.fixture
def user(stack: RunningStack) -> Iterator[User]:
    person = User(stack, f"user-{uuid.uuid4().hex[:8]}")
    try:
        yield person
    finally:
        person.http.close()
