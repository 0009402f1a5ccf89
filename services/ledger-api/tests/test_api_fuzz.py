"""Schemathesis against the running service (a real process, real PostgreSQL and Kafka), fed from the
app's own OpenAPI document: whatever it sends, valid or not, the answer is never a 5xx, its status is one
the document lists, and its body matches the documented schema. Bounded: a few dozen examples per route."""

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
import schemathesis
from bankstream_common.auth import authenticator_from
from bankstream_common.metrics import create_registry
from bankstream_common.testing.issuer import TEST_ISSUER
from bankstream_common.testing.service_process import ServiceProcess, ServiceUnderTest, running_service
from hypothesis import HealthCheck, Phase, settings
from ledger_api.config import Settings
from ledger_api.entrypoints.http import create_app
from ledger_api.metrics import Metrics
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from .api_harness import bearer, tx

pytestmark = pytest.mark.integration

SERVICE = ServiceUnderTest(script="ledger-api", env_prefix="LEDGER_API_")
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def openapi_document() -> dict[str, Any]:
    issuer = TEST_ISSUER.env("")
    s = Settings(
        env="test",
        database_url="postgresql://fuzz@127.0.0.1:1/none",
        kafka_bootstrap_servers="127.0.0.1:1",
        jwt_issuer=issuer["JWT_ISSUER"],
        jwt_public_keys=json.loads(issuer["JWT_PUBLIC_KEYS"]),
    )
    app = create_app(s, Metrics(create_registry()), {}, deps=object(), authenticator=authenticator_from(s))  # type: ignore[arg-type]
    return app.openapi()


schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE], allow_x00=True
)


async def _seed(database_url: str, schema_name: str) -> None:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema_name})
    try:
        for _ in range(200):  # the process migrates its schema in the background
            if await conn.fetchval("SELECT to_regclass('refresh_requests') IS NOT NULL"):
                break
            await asyncio.sleep(0.1)
        await conn.execute(
            """INSERT INTO items (item_id, user_id, status) VALUES ('item-a', 'alice', 'good');
               INSERT INTO accounts (account_id, item_id, user_id, name, type, balance_current)
               VALUES ('acc-a1', 'item-a', 'alice', 'Checking', 'depository', 120.50);
               INSERT INTO balance_history (account_id, day, balance_current, as_of)
               VALUES ('acc-a1', '2026-11-01', 120.50, now());"""
        )
        rows = [tx(f"t-{i}", amount=i * 3.5, pending=i % 5 == 0) for i in range(30)]
        columns = list(rows[0])
        await conn.executemany(
            f"INSERT INTO transactions ({', '.join(columns)}) "
            f"VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})",
            [[r[c] for c in columns] for r in rows],
        )
        await conn.execute(
            """INSERT INTO changes (user_id, item_id, entity, entity_id, op, version, data)
               SELECT 'alice', 'item-a', 'transaction', 't-' || i, 'added', 1, '{}'::jsonb
               FROM generate_series(0, 29) AS i"""
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def service(database_url: str, kafka_bootstrap_servers: str) -> Iterator[ServiceProcess]:
    schema_name = "ledger_fuzz_" + TEST_ISSUER.token("x", []).split(".")[2][:8].lower().replace("-", "_")
    schema_name = "".join(c if c.isalnum() or c == "_" else "_" for c in schema_name)
    env = {
        "LEDGER_API_SCHEMA_NAME": schema_name,
        "LEDGER_API_STREAM_MAX_SECONDS": "0.2",
        "LEDGER_API_STREAM_POLL_SECONDS": "0.05",
    }
    with running_service(
        SERVICE, database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap_servers, extra_env=env
    ) as proc:
        asyncio.run(_seed(database_url, schema_name))
        yield proc
        assert "Traceback" not in proc.output(), proc.output()[-4000:]


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_api_answers_only_documented_statuses_and_shapes(
    case: schemathesis.Case, service: ServiceProcess
) -> None:
    headers = dict(case.headers or {})
    if "authorization" not in {k.lower() for k in headers} or case.operation.path != "/v1/transactions":
        headers.update(bearer("alice"))
    case.headers = headers
    case.call_and_validate(base_url=service.base_url, checks=CHECKS)
