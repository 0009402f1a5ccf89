"""A second stack beside the first: `devstack` takes its state directory and ports as flags (in --help), says
aloud when a DATABASE_URL makes it skip PostgreSQL, and `make run`'s service ports are settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bankstream_devstack import processes
from bankstream_devstack.run import ServicePorts, children
from bankstream_devstack.stack import StackInfo, StackPorts


def devstack(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bankstream_devstack", *args],
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_documents_the_state_directory_and_the_ports() -> None:
    done = devstack("--help")
    assert done.returncode == 0
    for flag in ("--state-dir", "--kafka-port", "--kafka-controller-port", "--pg-port"):
        assert flag in done.stdout


def test_flags_win_over_the_environment_which_wins_over_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANKSTREAM_KAFKA_PORT", "9192")
    monkeypatch.delenv("BANKSTREAM_PG_PORT", raising=False)
    assert StackPorts.from_env() == StackPorts(kafka=9192, kafka_controller=9093, postgres=5433)
    assert StackPorts.from_env(kafka=9292, postgres=5533) == StackPorts(9292, 9093, 5533)


def test_a_database_url_that_skips_postgres_is_said_aloud(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": str(tmp_path),  # no java: `up` stops right after the notice
        "BANKSTREAM_CACHE_DIR": str(tmp_path / "cache"),
        "DATABASE_URL": "postgresql://someone:hunter2@127.0.0.1:6543/ledger",
    }
    done = devstack("up", "--state-dir", str(tmp_path / "state"), env=env)
    assert done.returncode == 1
    assert "DATABASE_URL is set (127.0.0.1:6543/ledger)" in done.stdout
    assert "not starting one" in done.stdout
    assert "hunter2" not in done.stdout + done.stderr
    quiet = devstack("up", "--state-dir", str(tmp_path / "state"), env={**env, "DATABASE_URL": ""})
    assert "DATABASE_URL" not in quiet.stdout


def test_status_and_down_of_a_stack_that_is_not_there(tmp_path: Path) -> None:
    status = devstack("status", "--state-dir", str(tmp_path))
    assert (status.returncode, status.stdout.strip()) == (3, "devstack is down")
    assert devstack("down", "--state-dir", str(tmp_path)).stdout.strip() == "devstack was not running"


@pytest.mark.integration
def test_up_status_down_on_the_ports_given(tmp_path: Path, database_url: str) -> None:
    kafka, controller = processes.free_port(), processes.free_port()
    state = str(tmp_path / "second")
    env = {**os.environ, "DATABASE_URL": database_url}
    up = devstack(
        "up",
        "--state-dir",
        state,
        "--kafka-port",
        str(kafka),
        "--kafka-controller-port",
        str(controller),
        env=env,
    )
    try:
        assert up.returncode == 0, up.stderr
        assert f"kafka 127.0.0.1:{kafka}" in up.stdout
        assert processes.port_open(kafka) and processes.port_open(controller)
        status = devstack("status", "--state-dir", state, env=env)
        assert status.returncode == 0 and f"kafka 127.0.0.1:{kafka}" in status.stdout
    finally:
        down = devstack("down", "--state-dir", state, env=env)
    assert down.stdout.strip() == "devstack stopped"
    assert not processes.port_open(kafka)


def test_each_service_is_told_its_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANKSTREAM_STATE_DIR", str(tmp_path))
    ports = ServicePorts(
        emulator=18900, link_svc=18001, sync_worker=18002, categorizer=18003, ledger_api=18004
    )
    info = StackInfo(
        "127.0.0.1:1", "postgresql://postgres@127.0.0.1:1/postgres", None, 1, 2, None, str(tmp_path)
    )
    kids = {c.name: c for c in children(info, ports)}
    assert {n: c.port for n, c in kids.items()} == {
        "plaid-emulator": 18900,
        "link-svc": 18001,
        "sync-worker": 18002,
        "categorizer": 18003,
        "ledger-api": 18004,
    }
    assert kids["plaid-emulator"].args[-1] == "18900"
    prefixes = {"link-svc": "LINK_SVC_", "sync-worker": "SYNC_WORKER_", "categorizer": "CATEGORIZER_"}
    for name, prefix in {**prefixes, "ledger-api": "LEDGER_API_"}.items():
        assert kids[name].env[f"{prefix}HTTP_PORT"] == str(kids[name].port)
        assert kids[name].env["PLAID_BASE_URL"] == "http://127.0.0.1:18900"
    assert kids["link-svc"].env["LINK_SVC_LINK_WEBHOOK_URL"] == "http://127.0.0.1:18001/v1/plaid/webhooks"
    assert kids["sync-worker"].env["SYNC_WORKER_LINK_SVC_URL"] == "http://127.0.0.1:18001"
    monkeypatch.setenv("BANKSTREAM_LEDGER_API_PORT", "18104")
    assert ServicePorts.from_env().ledger_api == 18104
