"""SQL migrations: plain files applied in order, recorded, and safe when two replicas start at once.

A service keeps its files as `<package>/migrations/NNNN_name.sql`. They run inside the service's own schema
(search_path), after this package's own files (the outbox and inbox tables every service has), each in its
own transaction, under a transaction-level advisory lock taken per schema: a second replica waits, then
finds everything applied. An applied file whose text changed is refused: write a new migration instead.
"""

import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg
import structlog

from ..db import check_schema

log = structlog.get_logger(__name__)


class MigrationError(RuntimeError):
    """A migration could not be applied, or an applied one was changed."""


@dataclass(frozen=True)
class Migration:
    namespace: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load(namespace: str, package: str) -> list[Migration]:
    """The `NNNN_name.sql` files shipped in `package`'s `migrations` directory, in version order."""
    folder: Traversable = resources.files(package)
    if package.split(".")[-1] != "migrations":
        folder = folder / "migrations"
    found = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        stem = entry.name.removesuffix(".sql")
        number, _, name = stem.partition("_")
        if not number.isdigit() or not name:
            raise MigrationError(f"{namespace}: migration file {entry.name} is not named NNNN_name.sql")
        found.append(Migration(namespace, int(number), name, entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{namespace}: two migration files share a version number")
    return found


def common_migrations() -> list[Migration]:
    return load("common", "bankstream_common.migrations")


async def migrate(conn: asyncpg.Connection, schema: str, migrations: list[Migration]) -> list[Migration]:
    """Apply what is missing in `schema`; returns what this call applied (empty on a second replica)."""
    check_schema(schema)
    applied_now: list[Migration] = []
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('bankstream.migrations'), hashtext($1))", schema
        )
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                namespace text NOT NULL, version int NOT NULL, name text NOT NULL, checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (namespace, version))"""
        )
        rows = await conn.fetch(f"SELECT namespace, version, name, checksum FROM {schema}.schema_migrations")
        done = {(r["namespace"], r["version"]): r for r in rows}
        await conn.execute(f"SET LOCAL search_path TO {schema}, public")
        for m in migrations:
            row = done.get((m.namespace, m.version))
            if row is not None:
                if row["checksum"] != m.checksum:
                    raise MigrationError(
                        f"{schema}: migration {m.namespace}/{m.version:04d}_{m.name} changed after it was "
                        "applied; add a new migration instead"
                    )
                continue
            try:
                await conn.execute(m.sql)
            except asyncpg.PostgresError as exc:
                raise MigrationError(
                    f"{schema}: {m.namespace}/{m.version:04d}_{m.name} failed: {exc}"
                ) from exc
            await conn.execute(
                f"INSERT INTO {schema}.schema_migrations (namespace, version, name, checksum) "
                "VALUES ($1, $2, $3, $4)",
                m.namespace,
                m.version,
                m.name,
                m.checksum,
            )
            applied_now.append(m)
    for m in applied_now:
        log.info("migration applied", schema=schema, migration=f"{m.namespace}/{m.version:04d}_{m.name}")
    return applied_now


async def migrate_service(
    dsn_or_conn: str | asyncpg.Connection, schema: str, package: str | None
) -> list[Migration]:
    """The common tables, then the service's own files from `<package>.migrations` (if any)."""
    migrations = common_migrations() + (load(schema, package) if package else [])
    if isinstance(dsn_or_conn, str):
        conn = await asyncpg.connect(dsn_or_conn)
        try:
            return await migrate(conn, schema, migrations)
        finally:
            await conn.close()
    return await migrate(dsn_or_conn, schema, migrations)
