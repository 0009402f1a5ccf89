"""The asyncpg pool: one per service, whose connections live in the service's own schema."""

import re
from typing import Protocol

import asyncpg
from pydantic import SecretStr

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema(schema: str) -> str:
    if not SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}: lowercase letters, digits and _ only")
    return schema


async def create_pool(
    dsn: str, *, schema: str, application_name: str | None = None, min_size: int = 1, max_size: int = 10
) -> asyncpg.Pool:
    """A pool whose search_path is `<schema>, public`, so every unqualified name is the service's own."""
    check_schema(schema)
    settings = {"search_path": f"{schema}, public", "application_name": application_name or schema}
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, server_settings=settings)
    assert pool is not None
    return pool


class PoolSettings(Protocol):
    @property
    def database_url(self) -> SecretStr: ...
    @property
    def schema_name(self) -> str: ...
    @property
    def service_name(self) -> str: ...


async def service_pool(settings: PoolSettings, *, max_size: int) -> asyncpg.Pool:
    """A service's main pool: in its schema, its connections named for it (pg_stat_activity). min_size=0:
    the process starts (and answers /healthz, and /readyz 503) while PostgreSQL is away."""
    return await create_pool(
        settings.database_url.get_secret_value(),
        schema=settings.schema_name,
        application_name=settings.service_name,
        min_size=0,
        max_size=max_size,
    )
