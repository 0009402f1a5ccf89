"""A CSV import enters the ledger the way Plaid's transactions do: ledger-api and the categorizer run
in-process on the real broker and database (one topic prefix, a schema each), the test plays link-svc and
the sync-worker (ItemLinked, TransactionChanged on bankstream.transactions), then imports a bank export
that overlaps what Plaid delivered, twice.

New lines must come back into the ledger's `transactions` categorized by the categorizer (never written
there by the import itself); duplicates of Plaid's rows must not; the second import must change nothing.
"""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from bankstream_common.envelope import Envelope
from bankstream_common.testing.issuer import TEST_ISSUER
from bankstream_common.testing.service_process import free_port
from bankstream_common.testing.waiting import read_events, true, wait_until
from categorizer.bootstrap import bootstrap as categorizer_bootstrap
from categorizer.config import Settings as CategorizerSettings
from ledger_api.bootstrap import bootstrap as ledger_bootstrap
from ledger_api.config import Settings as LedgerSettings

pytestmark = pytest.mark.integration

CSV = """Transaction Date,Post Date,Description,Category,Type,Amount,Memo
11/02/2026,11/03/2026,SQ *BLUE BOTTLE 8372,Food & Drink,Sale,-4.50,
11/03/2026,11/04/2026,AMAZON MKTPLACE PMTS,Shopping,Sale,-23.99,
11/06/2026,11/07/2026,SHELL OIL 5744,Gas,Sale,-41.20,
11/08/2026,11/09/2026,NETFLIX.COM,Entertainment,Sale,-15.49,
"""


def _issuer() -> dict[str, Any]:
    env = TEST_ISSUER.env("")
    return {"jwt_issuer": env["JWT_ISSUER"], "jwt_public_keys": json.loads(env["JWT_PUBLIC_KEYS"])}


@asynccontextmanager
async def running_stack(database_url: str, kafka: str) -> AsyncIterator[tuple[Any, Any, httpx.AsyncClient]]:
    uid = uuid.uuid4().hex[:10]
    common = {"env": "test", "database_url": database_url, "kafka_bootstrap_servers": kafka, **_issuer()}
    prefix = f"t{uid}."
    categorizer = await categorizer_bootstrap(
        CategorizerSettings(
            **common,
            http_port=free_port(),
            schema_name=f"cat_t_{uid}",
            topic_prefix=prefix,
            consumer_group=f"categorizer-{uid}",
            topic_partitions=1,
        )
    )
    port = free_port()
    ledger = await ledger_bootstrap(
        LedgerSettings(
            **common,
            http_port=port,
            schema_name=f"ledger_t_{uid}",
            topic_prefix=prefix,
            consumer_group=f"ledger-api-{uid}",
            topic_partitions=1,
            import_poll_seconds=0.2,
        )
    )
    server = uvicorn.Server(
        uvicorn.Config(
            ledger.app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
    )
    tasks = [
        asyncio.create_task(server.serve()),
        asyncio.create_task(ledger.background.run()),
        asyncio.create_task(categorizer.background.run()),
    ]
    try:
        await wait_until(
            lambda: true(
                server.started and ledger.background.ready.is_set() and categorizer.background.ready.is_set()
            ),
            timeout=60,
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield ledger, prefix, http
    finally:
        ledger.background.stop()
        categorizer.background.stop()
        server.should_exit = True
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        await ledger.aclose()
        await categorizer.aclose()


def plaid_transaction(tid: str, seq: int, day: str, amount: float, name: str) -> dict[str, Any]:
    return {
        "item_id": "item-e2e",
        "sync_sequence": seq,
        "run_id": "run-1",
        "position": seq - 1,
        "change": "added",
        "transaction_id": tid,
        "account_id": "acc-e2e",
        "pending": False,
        "amount": amount,
        "iso_currency_code": "USD",
        "date": day,
        "name": name,
        "merchant_name": name,
    }


async def test_a_csv_overlapping_plaid_reaches_the_ledger_through_the_categorizer_once(
    database_url: str, kafka_bootstrap_servers: str
) -> None:
    async with running_stack(database_url, kafka_bootstrap_servers) as (ledger, prefix, http):
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
        await producer.start()
        try:

            async def publish(topic: str, key: str, type_: str, source: str, data: dict[str, Any]) -> None:
                event = Envelope.new(source=source, type=type_, subject=key, data=data)
                await producer.send_and_wait(prefix + topic, event.to_json(), key=key.encode())

            await publish(
                "bankstream.items",
                "item-e2e",
                "bankstream.item.linked.v1",
                "bankstream/link-svc",
                {
                    "user_id": "erin",
                    "item_id": "item-e2e",
                    "institution_id": "ins_1",
                    "institution_name": "First Platypus Bank",
                    "status": "good",
                    "accounts": [{"account_id": "acc-e2e", "name": "Checking", "type": "depository"}],
                    "linked_at": datetime.now(UTC).isoformat(),
                },
            )
            plaid = [
                plaid_transaction("plaid-coffee", 1, "2026-11-02", 4.5, "Blue Bottle Coffee"),
                plaid_transaction("plaid-amazon", 2, "2026-11-04", 23.99, "Amazon"),
            ]
            for data in plaid:
                await publish(
                    "bankstream.transactions",
                    "acc-e2e",
                    "bankstream.transaction.changed.v1",
                    "bankstream/sync-worker",
                    data,
                )
        finally:
            await producer.stop()

        pool = ledger.pool
        await wait_until(
            lambda: pool.fetchval(
                "SELECT count(*) = 2 FROM transactions WHERE user_id = 'erin' AND category_source IS NOT NULL"
            ),
            timeout=60,
        )
        headers = TEST_ISSUER.bearer("erin", ["ledger:read", "ledger:write"])

        async def import_once() -> dict[str, Any]:
            started = await http.post(
                "/v1/imports",
                json={"account_id": "acc-e2e", "layout": "chase_card", "csv": CSV},
                headers=headers,
            )
            assert started.status_code == 202, started.text
            url = f"/v1/imports/{started.json()['import_id']}"

            async def done() -> dict[str, Any] | None:
                body = (await http.get(url, headers=headers)).json()
                return body if body["state"] == "succeeded" else None

            return await wait_until(done, timeout=60)

        first = await import_once()
        assert first["report"]["imported"] == 2
        assert first["report"]["duplicates"] == 2
        # the two new lines come back from the categorizer, categorized, as ledger rows of erin's
        await wait_until(
            lambda: pool.fetchval("SELECT count(*) = 4 FROM transactions WHERE user_id = 'erin'"), timeout=60
        )
        rows = await pool.fetch(
            """SELECT transaction_id, amount, name, category_source, category_detailed, version
               FROM transactions WHERE transaction_id LIKE 'csv\\_%' ORDER BY date"""
        )
        assert [(r["name"], float(r["amount"])) for r in rows] == [
            ("SHELL OIL 5744", 41.2),
            ("NETFLIX.COM", 15.49),
        ]
        assert all(
            r["category_source"] in {"model", "fallback", "plaid", "learned", "user_rule"} for r in rows
        )
        assert all(r["category_detailed"] for r in rows)
        # projected from TransactionCategorized like Plaid's rows: an `added` change each in the feed
        feed = await pool.fetch(
            "SELECT entity_id FROM changes WHERE entity_id LIKE 'csv\\_%' AND op = 'added'"
        )
        assert {f["entity_id"] for f in feed} == {r["transaction_id"] for r in rows}

        second = await import_once()
        assert second["report"]["imported"] == 0
        assert second["report"]["duplicates"] == 4
        await wait_until(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"), timeout=30)
        published = await read_events(
            kafka_bootstrap_servers, prefix + "bankstream.imported-transactions", at_least=2
        )
        assert len(published) == 2  # the second import published nothing
        after = await pool.fetch(
            "SELECT transaction_id, version FROM transactions WHERE user_id = 'erin' ORDER BY transaction_id"
        )
        assert len(after) == 4
        assert {
            r["transaction_id"]: r["version"] for r in after if r["transaction_id"].startswith("csv_")
        } == {r["transaction_id"]: r["version"] for r in rows}
