"""What categorizer knows of a user: their rules, their overrides, their corrections and what they taught."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class RuleRow:
    rule_id: str
    user_id: str
    seq: int
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def _rule(row: asyncpg.Record) -> RuleRow:
    return RuleRow(
        row["rule_id"],
        row["user_id"],
        row["seq"],
        json.loads(row["spec"]),
        row["created_at"],
        row["updated_at"],
    )


RULE_COLUMNS = "rule_id, user_id, seq, spec::text AS spec, created_at, updated_at"


async def rules_of(conn: asyncpg.Connection | asyncpg.Pool, user_id: str) -> list[RuleRow]:
    rows = await conn.fetch(f"SELECT {RULE_COLUMNS} FROM rules WHERE user_id = $1 ORDER BY seq", user_id)  # noqa: S608
    return [_rule(r) for r in rows]


async def get_rule(conn: asyncpg.Connection | asyncpg.Pool, rule_id: str) -> RuleRow | None:
    row = await conn.fetchrow(f"SELECT {RULE_COLUMNS} FROM rules WHERE rule_id = $1", rule_id)  # noqa: S608
    return None if row is None else _rule(row)


async def insert_rule(conn: asyncpg.Connection, rule_id: str, user_id: str, spec: str) -> RuleRow:
    row = await conn.fetchrow(
        f"INSERT INTO rules (rule_id, user_id, spec) VALUES ($1, $2, $3::jsonb) RETURNING {RULE_COLUMNS}",  # noqa: S608
        rule_id,
        user_id,
        spec,
    )
    return _rule(row)


async def update_rule(conn: asyncpg.Connection, rule_id: str, spec: str) -> RuleRow:
    row = await conn.fetchrow(
        f"UPDATE rules SET spec = $2::jsonb, updated_at = now() WHERE rule_id = $1 RETURNING {RULE_COLUMNS}",  # noqa: S608
        rule_id,
        spec,
    )
    return _rule(row)


async def delete_rule(conn: asyncpg.Connection, rule_id: str) -> None:
    await conn.execute("DELETE FROM rules WHERE rule_id = $1", rule_id)


async def learned_of(conn: asyncpg.Connection | asyncpg.Pool, user_id: str) -> dict[str, str]:
    rows = await conn.fetch("SELECT merchant_key, detailed FROM learned WHERE user_id = $1", user_id)
    return {r[0]: r[1] for r in rows}


async def record_override(
    conn: asyncpg.Connection,
    *,
    transaction_id: str,
    user_id: str,
    primary: str,
    detailed: str,
    overridden_at: datetime,
    event_id: Any,
) -> None:
    """Keep the user's latest explicit category for the transaction (an older event never wins)."""
    await conn.execute(
        """INSERT INTO overrides (transaction_id, user_id, primary_cat, detailed, overridden_at, event_id)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (transaction_id) DO UPDATE SET user_id = excluded.user_id,
               primary_cat = excluded.primary_cat, detailed = excluded.detailed,
               overridden_at = excluded.overridden_at, event_id = excluded.event_id
           WHERE overrides.overridden_at <= excluded.overridden_at""",
        transaction_id,
        user_id,
        primary,
        detailed,
        overridden_at,
        event_id,
    )


async def clear_override(conn: asyncpg.Connection, transaction_id: str, overridden_at: datetime) -> None:
    await conn.execute(
        "DELETE FROM overrides WHERE transaction_id = $1 AND overridden_at <= $2",
        transaction_id,
        overridden_at,
    )


async def add_correction(
    conn: asyncpg.Connection,
    *,
    user_id: str,
    merchant_key: str,
    detailed: str,
    transaction_id: str,
    overridden_at: datetime,
    event_id: Any,
    window: int,
) -> list[str]:
    """Record a correction; the key's last `window` corrections' categories, newest first."""
    await conn.execute(
        """INSERT INTO corrections (user_id, merchant_key, detailed, transaction_id, overridden_at, event_id)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        user_id,
        merchant_key,
        detailed,
        transaction_id,
        overridden_at,
        event_id,
    )
    rows = await conn.fetch(
        """SELECT detailed FROM corrections WHERE user_id = $1 AND merchant_key = $2
           ORDER BY overridden_at DESC, id DESC LIMIT $3""",
        user_id,
        merchant_key,
        window,
    )
    return [r[0] for r in rows]


async def set_learned(
    conn: asyncpg.Connection, user_id: str, merchant_key: str, detailed: str | None
) -> bool:
    """Make `detailed` (or nothing) the learned category of the key; True when that changed anything."""
    if detailed is None:
        status = await conn.execute(
            "DELETE FROM learned WHERE user_id = $1 AND merchant_key = $2", user_id, merchant_key
        )
        return bool(status != "DELETE 0")
    status = await conn.execute(
        """INSERT INTO learned (user_id, merchant_key, detailed) VALUES ($1, $2, $3)
           ON CONFLICT (user_id, merchant_key) DO UPDATE SET detailed = excluded.detailed, learned_at = now()
           WHERE learned.detailed <> excluded.detailed""",
        user_id,
        merchant_key,
        detailed,
    )
    return bool(status != "INSERT 0 0")
