"""The transaction JSON built by PostgreSQL (adapters.view_sql: jsonb for the change feed, json for list
pages) equals the API's `transaction_view` of the same row, field for field and string for string, over
rows that take every branch: the categorizer's category, the user's override, a tombstone without state,
timestamps with and without fractional seconds and stored from another offset, a real-typed confidence,
tags and notes."""

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, Literal

import asyncpg
import pytest
from bankstream_common.db import create_pool
from bankstream_common.migrations import migrate_service
from ledger_api.adapters.view_sql import transaction_view_sql
from ledger_api.domain.views import transaction_view

pytestmark = pytest.mark.integration

UTC = dt.UTC
PARIS = dt.timezone(dt.timedelta(hours=1))

BASE: dict[str, Any] = {
    "transaction_id": "t1", "user_id": "u1", "item_id": "i1", "account_id": "a1", "version": 3,
    "removed": False, "pending": False, "pending_transaction_id": None, "amount": Decimal("4.33"),
    "iso_currency_code": "USD", "date": dt.date(2026, 11, 2), "authorized_date": dt.date(2026, 11, 1),
    "datetime": dt.datetime(2026, 11, 2, 8, 30, tzinfo=UTC), "name": "STARBUCKS #12",
    "merchant_name": "Starbucks", "category_primary": "FOOD_AND_DRINK",
    "category_detailed": "FOOD_AND_DRINK_COFFEE", "category_source": "model", "category_confidence": 0.87,
    "category_decided_by": "model:tfidf-v1", "category_needs_review": False,
    "user_category_primary": None, "user_category_detailed": None, "user_notes": None, "user_tags": [],
    "user_hidden": False, "updated_at": dt.datetime(2026, 11, 29, 23, 30, 0, 123400, tzinfo=UTC),
}  # fmt: skip

ROWS: dict[str, dict[str, Any]] = {
    "categorizer": {},
    "user override, notes, tags, hidden": {
        "user_category_primary": "TRAVEL", "user_category_detailed": "TRAVEL_FLIGHTS",
        "user_notes": "trip \"Q4\" / é", "user_tags": ["work", "to review"], "user_hidden": True,
        "user_edited_at": dt.datetime(2026, 11, 3, tzinfo=UTC),
    },
    "tombstone without state": {
        "removed": True, "removed_at": dt.datetime(2026, 11, 4, tzinfo=UTC), "pending": None,
        "amount": None, "iso_currency_code": None, "date": None, "authorized_date": None, "datetime": None,
        "name": None, "merchant_name": None, "category_primary": None, "category_detailed": None,
        "category_source": None, "category_confidence": None, "category_decided_by": None,
    },
    "timestamps: whole seconds, another offset, micros": {
        "datetime": dt.datetime(2026, 11, 2, 9, 0, 0, 5, tzinfo=PARIS),
        "updated_at": dt.datetime(2026, 11, 29, 23, 30, tzinfo=UTC),
    },
    "pending, negative amount, odd confidence, review": {
        "pending": True, "pending_transaction_id": "p0", "amount": Decimal("-1200.05"),
        "category_confidence": 0.12345, "category_needs_review": True, "authorized_date": None,
    },
    "whole amount, confidence 1": {"amount": Decimal("5.00"), "category_confidence": 1.0},
}  # fmt: skip


@pytest.fixture(scope="module")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    schema = f"ledger_v_{uuid.uuid4().hex[:10]}"
    await migrate_service(database_url, schema, "ledger_api")
    pool = await create_pool(database_url, schema=schema, max_size=2)
    try:
        yield pool
    finally:
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")
        await pool.close()


@pytest.mark.parametrize("kind", ["jsonb", "json"])
@pytest.mark.parametrize("case", list(ROWS))
async def test_the_sql_view_equals_the_python_view_of_the_same_row(
    pool: asyncpg.Pool, case: str, kind: Literal["jsonb", "json"]
) -> None:
    values = {**BASE, **ROWS[case], "transaction_id": f"t-{uuid.uuid4().hex[:8]}"}
    columns = list(values)
    placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    await pool.execute(
        f"INSERT INTO transactions ({', '.join(columns)}) VALUES ({placeholders})",
        *values.values(),
    )
    row = await pool.fetchrow(
        f"SELECT t.*, {transaction_view_sql('t', kind)}::text AS sql_view "
        "FROM transactions t WHERE transaction_id = $1",
        values["transaction_id"],
    )
    assert row is not None
    assert json.loads(row["sql_view"]) == transaction_view(row)
