"""A ledger schema for the ledger benches: migrated as ledger-api's, filled server-side with the secondary
indexes of the filled tables built after the fill (faster than maintained row by row), analyzed, then a
CHECKPOINT (the fill's write-ahead log flushed now, not by a checkpoint inside a timed phase)."""

import time
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from bankstream_common.migrations import migrate_service


async def filled_ledger(
    dsn: str, schema: str, fill: Callable[[asyncpg.Connection], Awaitable[object]], tables: Sequence[str]
) -> float:
    """Seconds to fill `schema` with `fill(conn)` (its search path is `schema`) and index `tables`."""
    await migrate_service(dsn, schema, "ledger_api")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        started = time.perf_counter()
        indexes = await conn.fetch(
            """SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1
               AND tablename = ANY($2::text[]) AND indexname NOT LIKE '%_pkey'""",
            schema,
            list(tables),
        )
        for index in indexes:
            await conn.execute(f"DROP INDEX {index['indexname']}")
        await fill(conn)
        for index in indexes:
            await conn.execute(index["indexdef"])
        for table in tables:
            await conn.execute(f"VACUUM ANALYZE {table}")
        await conn.execute("CHECKPOINT")
        return time.perf_counter() - started
    finally:
        await conn.close()
