"""SQL for `item_setups`: exchanged Items whose set-up has not finished (see handlers/item_setup.py)."""

import json
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import TypeAlias

import asyncpg

from ..domain.duplicates import AccountFingerprint

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
_COLUMNS = """item_id, user_id, institution_id, institution_name, offered_accounts, attempts, last_error_code,
              next_attempt_at, finished_at"""


@dataclass(frozen=True)
class Setup:
    item_id: str
    user_id: str
    institution_id: str
    institution_name: str | None
    offered: list[AccountFingerprint]
    attempts: int
    last_error_code: str | None
    next_attempt_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


def _setup(row: asyncpg.Record) -> Setup:
    offered = [AccountFingerprint(*a) for a in json.loads(row["offered_accounts"])]
    return Setup(
        item_id=row["item_id"],
        user_id=row["user_id"],
        institution_id=row["institution_id"],
        institution_name=row["institution_name"],
        offered=offered,
        attempts=row["attempts"],
        last_error_code=row["last_error_code"],
        next_attempt_at=row["next_attempt_at"],
        finished_at=row["finished_at"],
    )


async def insert(
    conn: asyncpg.Connection,
    *,
    item_id: str,
    user_id: str,
    public_token_sha256: bytes,
    institution_id: str,
    institution_name: str | None,
    offered: list[AccountFingerprint],
) -> bool:
    """False when a set-up of this Item or of this public token is already recorded."""
    status = await conn.execute(
        """INSERT INTO item_setups (item_id, user_id, public_token_sha256, institution_id, institution_name,
                                    offered_accounts)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
        item_id,
        user_id,
        public_token_sha256,
        institution_id,
        institution_name,
        json.dumps([astuple(a) for a in offered]),
    )
    return bool(status.endswith(" 1"))


async def by_public_token(conn: Conn, public_token_sha256: bytes) -> Setup | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM item_setups WHERE public_token_sha256 = $1",  # noqa: S608
        public_token_sha256,
    )
    return _setup(row) if row else None


async def lock(conn: asyncpg.Connection, item_id: str) -> Setup | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM item_setups WHERE item_id = $1 FOR UPDATE",  # noqa: S608
        item_id,
    )
    return _setup(row) if row else None


async def mark_finished(conn: asyncpg.Connection, item_id: str) -> None:
    await conn.execute(
        "UPDATE item_setups SET finished_at = now(), last_error_code = NULL WHERE item_id = $1", item_id
    )


async def postpone(conn: Conn, item_id: str, error_code: str | None, delay_s: float) -> None:
    """One more failed attempt; the next one not before `delay_s` from now."""
    await conn.execute(
        """UPDATE item_setups SET attempts = attempts + 1, last_error_code = $2,
               next_attempt_at = now() + make_interval(secs => $3)
           WHERE item_id = $1 AND finished_at IS NULL""",
        item_id,
        error_code,
        delay_s,
    )


async def forget(conn: Conn, item_id: str) -> None:
    """An abandoned set-up (the Item was removed at Plaid): the row and the sealed token go."""
    await conn.execute("DELETE FROM item_setups WHERE item_id = $1 AND finished_at IS NULL", item_id)
    await conn.execute(
        "DELETE FROM access_tokens WHERE item_id = $1 AND NOT EXISTS "
        "(SELECT 1 FROM items WHERE items.item_id = access_tokens.item_id)",
        item_id,
    )


async def claim_due(conn: Conn, limit: int, lease_s: float) -> list[Setup]:
    """Unfinished set-ups whose next attempt is due, held for `lease_s` (another replica skips them)."""
    rows = await conn.fetch(
        f"""UPDATE item_setups SET next_attempt_at = now() + make_interval(secs => $2)
            WHERE item_id IN (SELECT item_id FROM item_setups
                              WHERE finished_at IS NULL AND next_attempt_at <= now()
                              ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING {_COLUMNS}""",  # noqa: S608
        limit,
        lease_s,
    )
    return [_setup(r) for r in rows]


async def pending_count(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM item_setups WHERE finished_at IS NULL"))


async def prune_finished(conn: Conn, older_than_s: float) -> None:
    """A finished set-up is kept while its public token could be presented again (30 minutes), then goes."""
    await conn.execute(
        "DELETE FROM item_setups WHERE finished_at < now() - make_interval(secs => $1)", older_than_s
    )
