"""A ledger rebuilt in a schema of its own, and its swap into the live schema's place (docs/operations.md,
"Rebuild the ledger"; handlers.rebuild drives it).

Every table of the ledger's schema is one of three kinds, and `TABLES` says which (a test holds it to the
migrations, so a new table needs a decision):
- PROJECTED: written only by the projections, so the rebuild writes it again from the topics;
- CARRIED: what users and the service made (edits' outbox, imports, reconciliations, refresh claims),
  which no topic holds: copied from the live schema as it is at the swap;
- the bookkeeping (`schema_migrations`, `inbox`, `rebuild_origin`), handled by name.

The swap is ONE PostgreSQL transaction, with the ledger-api stopped (handlers.rebuild checks that its
consumer group is empty): the user's edits are put back on the rebuilt rows (and carried again from a
pending transaction to the posted one that replaces it); with events gone (retention, accepted by the
operator), what only they told is kept from the live rows; rows only the live schema has are carried as
they were (a rebuild corrects and restores rows, it never deletes one); the change feed is the live one,
so clients' cursors stay valid, plus one `rebuilt` entry for each row whose state the rebuild changed;
then the schemas are renamed, the live one kept under another name with the live group's offsets.
"""

from dataclasses import dataclass

import asyncpg
from bankstream_common.db import check_schema

from ..domain.views import account_view, item_view
from .projection_store import DATA_COLUMNS, Change, record_changes
from .view_sql import transaction_view_sql

PROJECTED = ("items", "accounts", "balance_history", "transactions", "changes")
CARRIED = (
    "outbox", "outbox_batch_rows", "refresh_requests", "reconciliations", "imports", "import_findings",
    "import_rows",
)  # fmt: skip
BOOKKEEPING = ("schema_migrations", "inbox", "rebuild_origin")
TABLES = (*PROJECTED, *CARRIED, *BOOKKEEPING)

# Each projected table's key, and the columns that change on every write without telling anything.
_KEYS = {
    "items": ("item_id",),
    "accounts": ("account_id",),
    "balance_history": ("account_id", "day"),
    "transactions": ("transaction_id",),
}
_STAMPS = {
    "items": ("updated_at",),
    "accounts": ("updated_at",),
    "transactions": ("created_at", "updated_at"),
}
# The user's edits on a transaction: the projections never write them, so the rebuild has none of its own.
_EDITS = (
    "user_category_primary", "user_category_detailed", "user_notes", "user_tags", "user_hidden",
    "user_edited_at", "edit_version",
)  # fmt: skip
# The change-feed op of a row whose state the rebuild changed (its `data` is the state after it).
REBUILT = "rebuilt"
# What only an event that retention may have deleted tells (ItemLinked: the user, the institution, the
# accounts' names): with gaps accepted, a rebuilt row missing it keeps the live row's value.
_KNOWN_ONCE = {
    "items": ("user_id", "institution_id", "institution_name", "linked_at"),
    "accounts": ("user_id", "name", "official_name", "mask", "type", "subtype"),
    "transactions": ("user_id",),
}


class Refused(Exception):
    """What was asked cannot be done, and why (nothing was changed)."""


@dataclass(frozen=True)
class Origin:
    consumer_group: str  # the rebuild's own consumer group
    source_schema: str  # the live schema it will replace


async def create_origin(conn: asyncpg.Connection, target: str, origin: Origin) -> None:
    check_schema(target)
    await conn.execute(
        f"CREATE TABLE {target}.rebuild_origin (consumer_group text NOT NULL, source_schema text NOT NULL, "
        "started_at timestamptz NOT NULL DEFAULT now())"
    )
    await conn.execute(
        f"INSERT INTO {target}.rebuild_origin (consumer_group, source_schema) VALUES ($1, $2)",  # noqa: S608
        origin.consumer_group,
        origin.source_schema,
    )


async def read_origin(conn: asyncpg.Connection, target: str) -> Origin | None:
    """The rebuild in `target`, or None when there is none (no schema, or a schema that is not one)."""
    check_schema(target)
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{target}.rebuild_origin")
    if not exists:
        return None
    row = await conn.fetchrow(f"SELECT consumer_group, source_schema FROM {target}.rebuild_origin")  # noqa: S608
    return Origin(row["consumer_group"], row["source_schema"]) if row else None


async def schema_exists(conn: asyncpg.Connection, schema: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema))


async def drop_schema(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(f"DROP SCHEMA IF EXISTS {check_schema(schema)} CASCADE")


async def tables(conn: asyncpg.Connection, schema: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", check_schema(schema)
    )
    return [r["tablename"] for r in rows]


async def row_counts(conn: asyncpg.Connection, schema: str) -> dict[str, int]:
    check_schema(schema)
    return {t: await conn.fetchval(f"SELECT count(*) FROM {schema}.{t}") for t in PROJECTED}  # noqa: S608


@dataclass(frozen=True)
class SwapReport:
    kept_as: str  # the live schema's new name (drop it once the rebuilt ledger is trusted)
    edits_restored: int  # transactions whose user edits were put back
    carried_missing: dict[str, int]  # rows only the live schema had (their events are gone), carried
    rebuilt_changes: dict[str, int]  # `rebuilt` change-feed entries appended, per entity
    carried: dict[str, int]  # rows of each CARRIED table copied


async def swap(
    conn: asyncpg.Connection,
    *,
    source: str,
    target: str,
    kept_as: str,
    live_group: str,
    origin: Origin,
    live_offsets: list[tuple[str, int, int | None]],
    gaps: bool,
) -> SwapReport:
    """Put the rebuilt `target` in the live `source`'s place (see the module's docstring), in the caller's
    transaction; the live schema is renamed `kept_as`, with the live group's offsets before the swap
    (`live_offsets`: topic, partition, offset) in its table `swapped_at_offsets`, to go back by."""
    for name in (source, target, kept_as):
        check_schema(name)
    if not conn.is_in_transaction():
        raise RuntimeError("swap must run inside one transaction")
    await check_migrations(conn, source, target)
    await conn.execute(f"SET LOCAL search_path TO {target}, public")
    # The live schema's writers wait (the service is stopped: this only guards against a straggler).
    await conn.execute(f"LOCK TABLE {', '.join(f'{source}.{t}' for t in (*PROJECTED, *CARRIED))}")
    edits = await _restore_edits(conn, source)
    if gaps:
        await _keep_known_once(conn, source)
    missing = {t: await _carry_missing(conn, source, t) for t in _KEYS}
    changed = await _rebuilt_changes(conn, source)
    carried = {t: await _copy(conn, source, t) for t in CARRIED}
    await conn.execute(
        "UPDATE inbox SET consumer = $1 WHERE consumer = $2", live_group, origin.consumer_group
    )
    await conn.execute("DROP TABLE rebuild_origin")
    await conn.execute("UPDATE schema_migrations SET namespace = $1 WHERE namespace = $2", source, target)
    await conn.execute(
        f"CREATE TABLE {source}.swapped_at_offsets (topic text, partition int, live_offset bigint)"
    )
    await conn.executemany(f"INSERT INTO {source}.swapped_at_offsets VALUES ($1, $2, $3)", live_offsets)  # noqa: S608
    await conn.execute(f"ALTER SCHEMA {source} RENAME TO {kept_as}")
    await conn.execute(f"ALTER SCHEMA {target} RENAME TO {source}")
    return SwapReport(kept_as, edits, missing, changed, carried)


async def check_migrations(conn: asyncpg.Connection, source: str, target: str) -> None:
    # A service's own migrations are recorded under its schema's name, the common ones under `common`.
    query = "SELECT namespace = 'common', version, checksum FROM {}.schema_migrations ORDER BY 1, 2"
    if await conn.fetch(query.format(source)) != await conn.fetch(query.format(target)):
        raise Refused(
            f"{source} and {target} are not at the same migrations: start the ledger-api once (it migrates "
            f"{source}), then rebuild again"
        )


async def _restore_edits(conn: asyncpg.Connection, source: str) -> int:
    status = await conn.execute(
        f"""UPDATE transactions n SET {", ".join(f"{c} = o.{c}" for c in _EDITS)}
              FROM {source}.transactions o
             WHERE o.transaction_id = n.transaction_id
               AND (o.user_edited_at IS NOT NULL OR o.edit_version > 0)"""  # noqa: S608
    )
    # A posted transaction the live ledger never had (projected by the swap's catch-up, before the edits
    # of the pending one it replaces were back): the projections' carry rule, applied again.
    carried = ", ".join(f"{c} = p.{c}" for c in _EDITS if c != "edit_version")
    await conn.execute(
        f"""UPDATE transactions t SET {carried}
              FROM transactions p
             WHERE p.transaction_id = t.pending_transaction_id AND p.user_edited_at IS NOT NULL
               AND t.user_edited_at IS NULL AND NOT t.removed"""  # noqa: S608
    )
    return int(status.split()[-1])


async def _keep_known_once(conn: asyncpg.Connection, source: str) -> None:
    """With events gone: what only they told stays as the live row has it (an Item whose ItemLinked is
    gone still has its user and institution), and a tombstone whose earlier events are gone keeps the
    live row's last state."""
    for table, columns in _KNOWN_ONCE.items():
        key = _KEYS[table][0]
        await conn.execute(
            f"""UPDATE {table} n SET {", ".join(f"{c} = coalesce(n.{c}, o.{c})" for c in columns)}
                  FROM {source}.{table} o
                 WHERE o.{key} = n.{key} AND ({" OR ".join(f"n.{c} IS NULL" for c in columns)})"""  # noqa: S608
        )
    await conn.execute(
        f"""UPDATE transactions n SET {", ".join(f"{c} = o.{c}" for c in DATA_COLUMNS)}
              FROM {source}.transactions o
             WHERE o.transaction_id = n.transaction_id AND n.removed AND n.amount IS NULL"""  # noqa: S608
    )


async def _carry_missing(conn: asyncpg.Connection, source: str, table: str) -> int:
    """Rows of the live table the rebuild does not have: their events are gone (retention), so they stay
    as they were (same migrations, so the same columns in the same order)."""
    keys = _KEYS[table]
    match = " AND ".join(f"n.{k} = o.{k}" for k in keys)
    status = await conn.execute(
        f"INSERT INTO {table} SELECT o.* FROM {source}.{table} o "  # noqa: S608
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} n WHERE {match})"
    )
    return int(status.split()[-1])


async def _rebuilt_changes(conn: asyncpg.Connection, source: str) -> dict[str, int]:
    """The live change feed, as it was (its cursors stay valid), instead of the rebuild's own; then a
    `rebuilt` entry per row whose state differs from the live one. Rows that did not change keep their
    timestamps, and a transaction keeps when the ledger first saw it."""
    await conn.execute("TRUNCATE changes")
    await conn.execute(f"INSERT INTO changes OVERRIDING SYSTEM VALUE SELECT * FROM {source}.changes")  # noqa: S608
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence('changes', 'seq'), coalesce(max(seq), 0) + 1, false) "
        "FROM changes"
    )
    differ = {}
    for table in ("items", "accounts", "transactions"):
        key = _KEYS[table][0]
        # Every column but the stamps, compared as values (row comparison: ~5x cheaper than to_jsonb).
        columns = [c for c in await _columns(conn, table) if c not in _STAMPS[table]]
        same = (
            f"({', '.join(f'n.{c}' for c in columns)}) IS NOT DISTINCT FROM "
            f"({', '.join(f'o.{c}' for c in columns)})"
        )
        keep_created = ", created_at = o.created_at" if "created_at" in _STAMPS[table] else ""
        # A changed row keeps the rebuild's updated_at (always later than the live one): the RETURNING
        # tells the two apart without comparing the rows a second time.
        rows = await conn.fetch(
            f"""WITH kept AS (
                    UPDATE {table} n
                       SET updated_at = CASE WHEN {same} THEN o.updated_at ELSE n.updated_at END{keep_created}
                      FROM {source}.{table} o
                     WHERE o.{key} = n.{key}
                    RETURNING n.{key}, n.updated_at = o.updated_at AS unchanged),
                same AS (SELECT {key} FROM kept WHERE unchanged)
                SELECT n.{key} FROM {table} n LEFT JOIN same s USING ({key}) WHERE s.{key} IS NULL
                 ORDER BY n.{key}"""  # noqa: S608
        )
        differ[table] = [r[key] for r in rows]
    changes = [
        Change("item", r["item_id"], REBUILT, item_view(r), r["user_id"], r["item_id"])
        for r in await conn.fetch(
            "SELECT * FROM items WHERE item_id = any($1) ORDER BY item_id", differ["items"]
        )
    ] + [
        Change("account", r["account_id"], REBUILT, account_view(r), r["user_id"], r["item_id"])
        for r in await conn.fetch(
            "SELECT * FROM accounts WHERE account_id = any($1) ORDER BY account_id", differ["accounts"]
        )
    ]
    await record_changes(conn, changes)
    await conn.execute(
        f"""INSERT INTO changes (user_id, item_id, entity, entity_id, op, version, data)
            SELECT t.user_id, t.item_id, 'transaction', t.transaction_id, $1, t.version,
                   {transaction_view_sql("t")}
              FROM transactions t WHERE t.transaction_id = any($2) ORDER BY t.transaction_id""",  # noqa: S608
        REBUILT,
        differ["transactions"],
    )
    return {"item": len(differ["items"]), "account": len(differ["accounts"]),
            "transaction": len(differ["transactions"])}  # fmt: skip


async def _columns(conn: asyncpg.Connection, table: str) -> list[str]:
    """The table's columns in the search path's first schema (the rebuilt one), in their order."""
    rows = await conn.fetch(
        """SELECT attname FROM pg_attribute
            WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum""",
        table,
    )
    return [r["attname"] for r in rows]


async def _copy(conn: asyncpg.Connection, source: str, table: str) -> int:
    status = await conn.execute(
        f"INSERT INTO {table} OVERRIDING SYSTEM VALUE SELECT * FROM {source}.{table}"  # noqa: S608
    )
    identity = await conn.fetchval(
        """SELECT attname FROM pg_attribute
            WHERE attrelid = to_regclass($1) AND attidentity <> '' AND NOT attisdropped""",
        table,
    )
    if identity:  # the next row takes the number after the carried ones
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence($1, $2), coalesce(max({identity}), 0) + 1, false) "  # noqa: S608
            f"FROM {table}",
            table,
            identity,
        )
    return int(status.split()[-1])
