"""`bankstream ledger swap`'s one PostgreSQL transaction (adapters.rebuild_store.swap) over a ledger of
1,000,000 transactions and 200,000 change-feed rows: how long reads and edits are down for it, next to
two raw floors measured in the same run. The swap corrects the live schema in place (ADR 0019), so its
cost follows the differences; the floors say what a whole-table approach would cost.

What runs: two fresh schemas migrated with ledger-api's migrations, the live one filled as bench_ledger_api
fills it (secondary indexes built after the fill, then VACUUM ANALYZE), the "rebuilt" one a copy of its
transactions. Then the live one is made to differ as a rebuild finds it: 1% of its rows hold a wrong
category (the swap corrects it), 1% carry a user's edit (which the swap must leave alone). The swap then
runs as the CLI runs it, in one transaction, and commits.

Raw figures, same run: `raw_compare_s`, the comparison the swap makes of every row (both sides' values,
joined on the key) alone; `raw_copy_s`, a plain INSERT ... SELECT of the live transactions into a
third schema (writing every row once, as a swap that replaced the whole table would). The ledger-api is
stopped during a swap (ADR 0019): `swap_s` is the read downtime beyond the rebuild's catch-up.
--quick: 200,000 rows.
"""

import asyncio
import os
import time
import uuid
from typing import Any

import asyncpg
from bankstream_common.migrations import migrate_service
from bench_ledger_api import fill_sql
from ledger_api.adapters import rebuild_store as store
from ledger_fill import filled_ledger


async def _run(quick: bool) -> list[dict[str, Any]]:
    total, mine = (200_000, 20_000) if quick else (1_000_000, 100_000)
    dsn = os.environ["DATABASE_URL"]
    uid = uuid.uuid4().hex[:8]
    live, rebuilt, raw = f"bench_swap_{uid}", f"bench_swap_{uid}_rebuild", f"bench_swap_{uid}_raw"
    conn = await asyncpg.connect(dsn)
    kept_as = ""
    try:
        await filled_ledger(
            dsn, live, lambda c: c.execute(fill_sql(total, mine)), ("transactions", "changes")
        )
        stored = ", ".join(await store.stored_columns(conn, f"{live}.transactions"))  # not generated ones
        await filled_ledger(
            dsn,
            rebuilt,
            lambda c: c.execute(
                f"INSERT INTO transactions ({stored}) SELECT {stored} FROM {live}.transactions"
            ),
            ("transactions",),
        )
        await store.create_origin(conn, rebuilt, store.Origin("bench-rebuild", live))
        await conn.execute(
            f"""UPDATE {live}.transactions SET category_primary = 'GENERAL_MERCHANDISE'
                 WHERE right(transaction_id, 2) = '07'"""
        )  # 1%: a projection bug the rebuild undoes
        await conn.execute(
            f"""UPDATE {live}.transactions
                   SET user_notes = 'checked', user_edited_at = now(), edit_version = 1
                 WHERE right(transaction_id, 2) = '42'"""
        )  # 1%: the users' edits, which the swap leaves as they are
        await conn.execute(f"VACUUM ANALYZE {live}.transactions")
        await conn.execute("CHECKPOINT")
        columns = [
            r["attname"]
            for r in await conn.fetch(
                """SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0
                     AND NOT attisdropped AND attname NOT IN ('created_at', 'updated_at') ORDER BY attnum""",
                f"{live}.transactions",
            )
        ]
        started = time.perf_counter()
        same = await conn.fetchval(
            f"""SELECT count(*)
                  FROM {rebuilt}.transactions n JOIN {live}.transactions o USING (transaction_id)
                 WHERE ({", ".join(f"n.{c}" for c in columns)}) IS NOT DISTINCT FROM
                      ({", ".join(f"o.{c}" for c in columns)})"""
        )
        raw_compare_s = time.perf_counter() - started
        await migrate_service(dsn, raw, "ledger_api")
        started = time.perf_counter()
        await conn.execute(
            f"INSERT INTO {raw}.transactions ({stored}) SELECT {stored} FROM {live}.transactions"
        )
        raw_copy_s = time.perf_counter() - started
        await store.drop_schema(conn, raw)
        await conn.execute("CHECKPOINT")

        kept_as = f"{live}_before_bench"
        started = time.perf_counter()
        async with conn.transaction():
            report = await store.swap(
                conn, source=live, target=rebuilt, kept_as=kept_as, live_group="bench",
                origin=store.Origin("bench-rebuild", live), live_offsets=[], gaps=False,
            )  # fmt: skip
        swap_s = time.perf_counter() - started
    finally:
        for schema in (live, rebuilt, raw, kept_as):
            if schema:
                await store.drop_schema(conn, schema)
        await conn.close()
    common = {"transactions": total, "changes": 2 * mine}
    return [
        {"bench": "ledger.swap", "metric": "swap_s", "value": round(swap_s, 2), "unit": "s",
         "rebuilt_changes": report.rebuilt_changes["transaction"], "changed": report.changed["transactions"],
         **common},
        {"bench": "ledger.swap", "metric": "swap_rows_per_s", "value": round(total / swap_s),
         "unit": "rows/s", **common},
        {"bench": "ledger.swap", "metric": "raw_compare_s", "value": round(raw_compare_s, 2), "unit": "s",
         "note": "the swap's row comparison alone", "unchanged": same, **common},
        {"bench": "ledger.swap", "metric": "raw_copy_s", "value": round(raw_copy_s, 2), "unit": "s",
         "note": "INSERT ... SELECT of the transactions into another schema", **common},
    ]  # fmt: skip


def run(quick: bool = False) -> list[dict[str, Any]]:
    return asyncio.run(_run(quick))
