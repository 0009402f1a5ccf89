"""The baseline the pipeline bench compares with: seed 001's method, rebuilt here so the ratio shows what the
architecture buys. Bench-only code: no service carries it.

The method: one loop over the Items, one at a time; each page of `/transactions/sync` fetched through
plaid-python (its response models built, as an application using the SDK gets them); then, per
transaction, ORM-style statements: SELECT the account (INSERT it when missing), SELECT the transaction,
then INSERT or UPDATE it (a removal: SELECT, then UPDATE it as removed); one COMMIT per page. No Kafka, no
categorizer (Plaid's own category is stored), no outbox, no inbox. It writes the ledger's own
`transactions` and `accounts` tables (a schema of its own, migrated from ledger-api's migrations) through
asyncpg, the fastest driver there is: what is measured is the method, not a slow driver.
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import httpx
import plaid
from bankstream_common.migrations import migrate_service
from pipeline_stack import process_cpu_seconds
from plaid.api import plaid_api
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from plaid.model.transactions_sync_request_options import TransactionsSyncRequestOptions

INSERT_TX = """INSERT INTO transactions (transaction_id, user_id, item_id, account_id, version, pending,
    pending_transaction_id, amount, iso_currency_code, date, authorized_date, name, merchant_name,
    payment_channel, category_primary, category_detailed, category_source, plaid_category_detailed)
    VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'plaid', $15)"""
UPDATE_TX = """UPDATE transactions SET version = version + 1, pending = $2, pending_transaction_id = $3,
    amount = $4, iso_currency_code = $5, date = $6, authorized_date = $7, name = $8, merchant_name = $9,
    payment_channel = $10, category_primary = $11, category_detailed = $12, plaid_category_detailed = $12,
    updated_at = now() WHERE transaction_id = $1"""


def create_items(emulator_url: str, items: int, per_item: int) -> list[str]:
    """Items of the same shape as the pipeline's, made through the emulator's control API; their tokens."""
    with httpx.Client(timeout=120) as http:
        made = [
            http.post(f"{emulator_url}/emulator/items", json={"ready": True, "transactions": per_item})
            .raise_for_status()
            .json()
            for _ in range(items)
        ]
    return [m["access_token"] for m in made]


def _client(url: str, client_id: str, secret: str) -> plaid_api.PlaidApi:
    config = plaid.Configuration(host=url, api_key={"clientId": client_id, "secret": secret})
    return plaid_api.PlaidApi(plaid.ApiClient(config))


async def _store(conn: asyncpg.Connection, user: str, item: str, tx: Any) -> None:
    account = await conn.fetchrow("SELECT * FROM accounts WHERE account_id = $1", tx.account_id)
    if account is None:
        insert = "INSERT INTO accounts (account_id, item_id, user_id) VALUES ($1, $2, $3)"
        await conn.execute(insert, tx.account_id, item, user)
    pfc = tx.get("personal_finance_category")
    values = (
        tx.pending, tx.get("pending_transaction_id"), tx.amount, tx.get("iso_currency_code"), tx.date,
        tx.get("authorized_date"), tx.name, tx.get("merchant_name"), str(tx.payment_channel),
        pfc.primary if pfc else None, pfc.detailed if pfc else None,
    )  # fmt: skip
    existing = await conn.fetchrow("SELECT * FROM transactions WHERE transaction_id = $1", tx.transaction_id)
    if existing is None:
        await conn.execute(INSERT_TX, tx.transaction_id, user, item, tx.account_id, *values)
    else:
        await conn.execute(UPDATE_TX, tx.transaction_id, *values)


async def _remove(conn: asyncpg.Connection, transaction_id: str) -> None:
    existing = await conn.fetchrow("SELECT * FROM transactions WHERE transaction_id = $1", transaction_id)
    if existing is not None:
        await conn.execute(
            "UPDATE transactions SET removed = true, removed_at = now() WHERE transaction_id = $1",
            transaction_id,
        )


async def run_baseline(
    dsn: str, schema: str, emulator_url: str, client_id: str, secret: str, tokens: list[str], limit: int
) -> tuple[int, float, float, float]:
    """(transactions stored, seconds from the first sync call to the last commit, CPU seconds of this
    process and of its PostgreSQL backend over that time), stopping after the page that reaches `limit`
    transactions. The schema is made here and left for the caller to drop."""
    await migrate_service(dsn, schema, "ledger_api")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    backend = await conn.fetchval("SELECT pg_backend_pid()")
    client = _client(emulator_url, client_id, secret)
    stored = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    db_started = process_cpu_seconds(backend)
    try:
        for n, token in enumerate(tokens):
            user, item, cursor = f"baseline-user-{n}", f"baseline-item-{n}", None
            while True:
                request = TransactionsSyncRequest(
                    access_token=token,
                    count=500,
                    options=TransactionsSyncRequestOptions(include_original_description=True),
                    **({"cursor": cursor} if cursor else {}),
                )
                page = client.transactions_sync(request)
                async with conn.transaction():  # one commit per page
                    for tx in [*page.added, *page.modified]:
                        await _store(conn, user, item, tx)
                    for gone in page.removed:
                        await _remove(conn, gone.transaction_id)
                stored += len(page.added)
                cursor = page.next_cursor
                if not page.has_more or stored >= limit:
                    break
            if stored >= limit:
                break
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        return stored, elapsed, cpu, process_cpu_seconds(backend) - db_started
    finally:
        client.api_client.close()
        await conn.close()
