"""link-svc starts as a real process, answers its probes, stops on SIGTERM (see testing.probes)."""

import base64
import json
import os

import pytest
from bankstream_common.testing import probes
from bankstream_common.testing.service_process import ServiceUnderTest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

_jwt_key = ec.generate_private_key(ec.SECP256R1()).public_key()
_jwt_pem = _jwt_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

SERVICE = ServiceUnderTest(
    script="link-svc",
    env_prefix="LINK_SVC_",
    env={
        "LINK_SVC_VAULT_KEYS": json.dumps({"k1": base64.b64encode(os.urandom(32)).decode()}),
        "LINK_SVC_VAULT_ACTIVE_KEY_ID": "k1",
        "LINK_SVC_JWT_PUBLIC_KEYS": json.dumps({"test": _jwt_pem.decode()}),
    },
)

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
