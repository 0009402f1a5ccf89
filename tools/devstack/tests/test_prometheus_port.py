"""`make run`'s Prometheus port: 9090, another free one when 9090 is taken (say, by the system Prometheus
that installing Debian's package may start), or exactly what BANKSTREAM_PROMETHEUS_PORT says."""

import socket

import pytest
from bankstream_devstack import processes, run


def test_a_taken_default_port_falls_back_to_a_free_one_and_a_given_port_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BANKSTREAM_PROMETHEUS_PORT", raising=False)
    if processes.port_open(run.PROMETHEUS_PORT):
        pytest.skip(f"port {run.PROMETHEUS_PORT} is taken on this machine already")
    assert run.prometheus_port() == run.PROMETHEUS_PORT
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", run.PROMETHEUS_PORT))
        taken.listen()
        other = run.prometheus_port()
        assert other != run.PROMETHEUS_PORT and not processes.port_open(other)
    monkeypatch.setenv("BANKSTREAM_PROMETHEUS_PORT", "9555")
    assert run.prometheus_port() == 9555
