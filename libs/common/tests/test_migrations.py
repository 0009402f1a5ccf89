"""Migrations are applied once, in order, even when two replicas start at the same moment."""

import asyncio
import uuid

import asyncpg
import pytest
from bankstream_common.migrations import Migration, MigrationError, common_migrations, migrate

pytestmark = pytest.mark.integration


def _extra() -> list[Migration]:
    return [
        Migration("svc", 1, "widgets", "CREATE TABLE widgets (id int PRIMARY KEY)"),
        Migration("svc", 2, "widget_rows", "INSERT INTO widgets VALUES (1), (2)"),
    ]


async def test_two_replicas_at_once_apply_everything_once(database_url: str) -> None:
    schema = f"m_{uuid.uuid4().hex[:8]}"
    conns = [await asyncpg.connect(database_url) for _ in range(2)]
    try:
        results = await asyncio.gather(*(migrate(c, schema, common_migrations() + _extra()) for c in conns))
        assert sorted(len(r) for r in results) == [0, len(common_migrations()) + 2]
        assert await conns[0].fetchval(f"SELECT count(*) FROM {schema}.widgets") == 2
        assert (
            await conns[0].fetchval(f"SELECT count(*) FROM {schema}.schema_migrations")
            == len(common_migrations()) + 2
        )
        assert await migrate(conns[1], schema, common_migrations() + _extra()) == []
    finally:
        for c in conns:
            await c.close()


async def test_changed_migration_is_refused(database_url: str) -> None:
    schema = f"m_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, schema, _extra())
        changed = [_extra()[0], Migration("svc", 2, "widget_rows", "INSERT INTO widgets VALUES (3)")]
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, schema, changed)
    finally:
        await conn.close()


async def test_failing_migration_leaves_nothing_half_done(database_url: str) -> None:
    schema = f"m_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url)
    try:
        broken = [*_extra(), Migration("svc", 3, "broken", "ALTER TABLE nowhere ADD COLUMN x int")]
        with pytest.raises(MigrationError, match="0003_broken failed"):
            await migrate(conn, schema, broken)
        assert await conn.fetchval("SELECT to_regclass($1)", f"{schema}.widgets") is None
    finally:
        await conn.close()
