"""ledger-api starts as a real process, answers its probes, stops on SIGTERM (see testing.probes)."""

import pytest
from bankstream_common.testing import probes
from bankstream_common.testing.service_process import ServiceUnderTest

SERVICE = ServiceUnderTest(script="ledger-api", env_prefix="LEDGER_API_")

pytestmark = pytest.mark.integration


def test_serves_its_probes_and_stops_cleanly_on_sigterm(
    database_url: str, kafka_bootstrap_servers: str
) -> None:
    probes.serves_and_stops(
        SERVICE, database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap_servers
    )


@pytest.mark.parametrize("dependency", ["postgres", "kafka"])
def test_is_alive_but_not_ready_while_a_dependency_is_down(
    dependency: str, database_url: str, kafka_bootstrap_servers: str
) -> None:
    probes.not_ready_without(
        SERVICE, dependency, database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap_servers
    )


def test_serves_metrics_on_their_own_port_when_asked(database_url: str, kafka_bootstrap_servers: str) -> None:
    probes.metrics_apart(SERVICE, database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap_servers)
