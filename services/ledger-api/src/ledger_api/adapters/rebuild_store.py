"""A ledger rebuilt in a schema of its own, and the swap that corrects the live schema from it
(docs/operations.md, "Rebuild the ledger"; ADR 0019; handlers.rebuild drives it).

Every table of the ledger's schema is one of three kinds, and `TABLES` says which (a test holds it to the
migrations, so a new table needs a decision):
- PROJECTED: written only by the projections, so the rebuild writes it again from the topics;
- CARRIED: what users and the service made (edits' outbox, imports, reconciliations, refresh claims),
  which no topic holds: the live schema's, never touched by a swap;
- the bookkeeping (`schema_migrations`, `inbox`, `rebuild_origin`), handled by name.

The swap is ONE PostgreSQL transaction, with the ledger-api stopped (handlers.rebuild checks that its
consumer group is empty), and it corrects the live schema in place, so its cost follows the differences,
not the ledger's size: live rows the rebuild says otherwise take the rebuilt values (never the user's
edits, which the projections never write, nor when the ledger first saw the row); rows only the rebuild
has are added (a posted one takes the edits of the pending one it replaces); rows only the live ledger
has stay (a rebuild never deletes a row); where the live row is newer by the projections' own guards
(a version, when a status or a balance was true) it stays too; with deleted events accepted, what only
they told stays as the live row has it; each changed or added row gets one `rebuilt` entry in the live
change feed, whose past is untouched (clients' cursors stay valid); the tables no topic holds are not
touched at all. The rebuilt schema is then renamed and kept, with the pre-images of what changed, the
keys of what was added and the live group's offsets before the swap: what going back needs.
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


def _older(column: str) -> str:
    """The rebuilt row's `column` (a version, or when the state was true) is behind the live one's."""
    return f"(n.{column} IS NULL AND o.{column} IS NOT NULL OR n.{column} < o.{column})"


# Where the live row is newer than the rebuilt one, it stays (an event the rebuild did not apply: one its
# projections refused, or one retention deleted): per table, which columns, guarded by what. The same
# guards the projections themselves apply (a version, when a status or a balance was true).
_ITEM_STATUS = ("status", "needs_repair", "status_code", "status_changed_at")
_BALANCE = ("balance_available", "balance_current", "balance_limit", "iso_currency_code",
            "unofficial_currency_code", "balance_as_of")  # fmt: skip
_LIVE_IS_NEWER = {
    "items": {
        **dict.fromkeys(_ITEM_STATUS, _older("status_changed_at")),
        "removed_at": _older("removed_at"),
        "last_synced_at": _older("last_synced_at"),
        "last_sync_failed_at": _older("last_sync_failed_at"),
        "last_sync_error_code": _older("last_sync_failed_at"),
    },
    "accounts": dict.fromkeys(_BALANCE, _older("balance_as_of")),
}
# ... and for these, every column by one guard.
_WHOLE_ROW_GUARD = {"balance_history": _older("as_of"), "transactions": _older("version")}


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
    kept_as: str  # the rebuilt schema's new name: the rebuild as built, and what the swap replaced
    changed: dict[str, int]  # live rows the rebuild corrected, per table
    added: dict[str, int]  # rows the rebuild had and the live ledger lacked, per table
    only_live: dict[str, int]  # rows only the live ledger has (their events gone, or a past bug): kept
    rebuilt_changes: dict[str, int]  # `rebuilt` change-feed entries appended, per entity
    edits_kept: int  # transactions carrying a user's edit after the swap (the swap never overwrites one)
    edits_carried: int  # posted rows the rebuild added that took their pending transaction's edits


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
    """Correct the live `source` from the rebuilt `target` (see the module's docstring), in the caller's
    transaction, at a cost that follows the differences, not the ledger's size; `target` is then renamed
    `kept_as`, holding the pre-images of the rows it changed (`before_<table>`), the keys of the rows it
    added (`added_rows`) and the live group's offsets before the swap (`swapped_at_offsets`)."""
    for name in (source, target, kept_as):
        check_schema(name)
    if not conn.is_in_transaction():
        raise RuntimeError("swap must run inside one transaction")
    await check_migrations(conn, source, target)
    await conn.execute(f"SET LOCAL search_path TO {source}, public")  # the live ledger: what is corrected
    # The live schema's writers wait (the service is stopped: this only guards against a straggler).
    await conn.execute(f"LOCK TABLE {', '.join(f'{source}.{t}' for t in (*PROJECTED, *CARRIED))}")
    await conn.execute(f"CREATE TABLE {target}.added_rows (table_name text NOT NULL, key text[] NOT NULL)")
    changed, added, only_live = {}, {}, {}
    for table in _KEYS:
        changed[table] = await _correct(conn, target, table, _KNOWN_ONCE.get(table, ()) if gaps else (), gaps)
        added[table] = await _add(conn, target, table)
        only_live[table] = await _count_only_live(conn, target, table)
    carried = await _carry_pending_edits(conn, changed["transactions"] + added["transactions"])
    rebuilt = await _record_rebuilt(conn, changed, added)
    await _take_inbox(conn, target, live_group, origin.consumer_group)
    await conn.execute(
        f"CREATE TABLE {target}.swapped_at_offsets (topic text, partition int, live_offset bigint)"
    )
    await conn.executemany(f"INSERT INTO {target}.swapped_at_offsets VALUES ($1, $2, $3)", live_offsets)  # noqa: S608
    await conn.execute(f"DROP TABLE {target}.rebuild_origin")
    await conn.execute(f"ALTER SCHEMA {target} RENAME TO {kept_as}")
    edits = await conn.fetchval("SELECT count(*) FROM transactions WHERE user_edited_at IS NOT NULL")
    return SwapReport(
        kept_as=kept_as,
        changed={t: len(k) for t, k in changed.items()},
        added={t: len(k) for t, k in added.items()},
        only_live=only_live,
        rebuilt_changes=rebuilt,
        edits_kept=edits,
        edits_carried=carried,
    )


async def check_migrations(conn: asyncpg.Connection, source: str, target: str) -> None:
    # A service's own migrations are recorded under its schema's name, the common ones under `common`.
    query = "SELECT namespace = 'common', version, checksum FROM {}.schema_migrations ORDER BY 1, 2"
    if await conn.fetch(query.format(source)) != await conn.fetch(query.format(target)):
        raise Refused(
            f"{source} and {target} are not at the same migrations: start the ledger-api once (it migrates "
            f"{source}), then rebuild again"
        )


def _key_sql(table: str, alias: str) -> str:
    """A row's key as text[] (balance history's is two columns)."""
    return "ARRAY[" + ", ".join(f"{alias}.{k}::text" for k in _KEYS[table]) + "]"


async def _correct(
    conn: asyncpg.Connection, target: str, table: str, known_once: tuple[str, ...], gaps: bool
) -> list[list[str]]:
    """Live rows whose state the rebuild says otherwise take the rebuilt values (not the user's edits, not
    when the live ledger first saw them); their pre-images go to `<target>.before_<table>`. With gaps
    accepted, what only deleted events told stays as the live row has it. Returns the keys changed."""
    keys = _KEYS[table]
    kept = set(keys) | set(_STAMPS.get(table, ())) | (set(_EDITS) if table == "transactions" else set())
    columns = [c for c in await stored_columns(conn, f"{target}.{table}") if c not in kept]

    def rebuilt(c: str) -> str:
        value = f"n.{c}"
        if c in known_once:
            value = f"coalesce(n.{c}, o.{c})"
        elif gaps and table == "transactions" and c in DATA_COLUMNS:  # a tombstone whose state is gone
            value = f"CASE WHEN n.removed AND n.amount IS NULL THEN o.{c} ELSE n.{c} END"
        guard = _WHOLE_ROW_GUARD.get(table) or (_LIVE_IS_NEWER.get(table) or {}).get(c)
        return f"CASE WHEN {guard} THEN o.{c} ELSE {value} END" if guard else value

    match = " AND ".join(f"n.{k} = o.{k}" for k in keys)
    new, old = ", ".join(rebuilt(c) for c in columns), ", ".join(f"o.{c}" for c in columns)
    differs = f"({new}) IS DISTINCT FROM ({old})"
    await conn.execute(
        f"""CREATE TABLE {target}.before_{table} AS
            SELECT o.* FROM {table} o JOIN {target}.{table} n ON {match} WHERE {differs}"""  # noqa: S608
    )
    await conn.execute(f"ANALYZE {target}.before_{table}")  # a plan that starts from the few it holds
    # A corrected row is a change its readers must see: a new updated_at, and for a transaction a new
    # ETag (its edit_version is part of it), so an If-Match on the state before the swap fails.
    stamp = ", updated_at = now()" if "updated_at" in _STAMPS.get(table, ()) else ""
    if table == "transactions":
        stamp += ", edit_version = o.edit_version + 1"
    rows = await conn.fetch(
        f"""UPDATE {table} o SET ({", ".join(columns)}) = ({", ".join(rebuilt(c) for c in columns)}){stamp}
              FROM {target}.{table} n, {target}.before_{table} b
             WHERE {match} AND {" AND ".join(f"b.{k} = o.{k}" for k in keys)}
            RETURNING {_key_sql(table, "o")} AS key"""  # noqa: S608
    )
    return sorted(r["key"] for r in rows)


async def _add(conn: asyncpg.Connection, target: str, table: str) -> list[list[str]]:
    """Rows the rebuild has and the live ledger lacks, added (their keys noted in `added_rows`); an
    account's or a transaction's user is the live Item's when the rebuild did not know it (its ItemLinked
    is gone)."""
    match = " AND ".join(f"n.{k} = o.{k}" for k in _KEYS[table])
    columns = await stored_columns(conn, f"{target}.{table}")
    values = [
        "coalesce(n.user_id, (SELECT i.user_id FROM items i WHERE i.item_id = n.item_id))"
        if c == "user_id" and table in ("accounts", "transactions")
        else f"n.{c}"
        for c in columns
    ]
    rows = await conn.fetch(
        f"""INSERT INTO {table} ({", ".join(columns)}) SELECT {", ".join(values)} FROM {target}.{table} n
             WHERE NOT EXISTS (SELECT 1 FROM {table} o WHERE {match})
            RETURNING {_key_sql(table, table)} AS key"""  # noqa: S608
    )
    keys = sorted(r["key"] for r in rows)
    await conn.executemany(f"INSERT INTO {target}.added_rows VALUES ($1, $2)", [(table, k) for k in keys])  # noqa: S608
    return keys


async def _count_only_live(conn: asyncpg.Connection, target: str, table: str) -> int:
    match = " AND ".join(f"n.{k} = o.{k}" for k in _KEYS[table])
    found: int = await conn.fetchval(
        f"SELECT count(*) FROM {table} o WHERE NOT EXISTS (SELECT 1 FROM {target}.{table} n WHERE {match})"  # noqa: S608
    )
    return found


async def _carry_pending_edits(conn: asyncpg.Connection, keys: list[list[str]]) -> int:
    """A posted transaction new to the live ledger (projected by the rebuild, its pending one edited on
    the live side): the projections' carry rule, applied again."""
    carried = ", ".join(f"{c} = p.{c}" for c in _EDITS if c != "edit_version")
    status = await conn.execute(
        f"""UPDATE transactions t SET {carried}
              FROM transactions p
             WHERE t.transaction_id = any($1::text[]) AND p.transaction_id = t.pending_transaction_id
               AND p.user_edited_at IS NOT NULL AND t.user_edited_at IS NULL AND NOT t.removed""",  # noqa: S608
        [k[0] for k in keys],
    )
    return int(status.split()[-1])


async def _record_rebuilt(
    conn: asyncpg.Connection, changed: dict[str, list[list[str]]], added: dict[str, list[list[str]]]
) -> dict[str, int]:
    """One `rebuilt` entry in the live change feed per item, account and transaction the swap changed
    or added, with its state after the swap (the feed before it is untouched: cursors stay valid)."""
    ids = {t: sorted({k[0] for k in changed[t] + added[t]}) for t in ("items", "accounts", "transactions")}
    changes = [
        Change("item", r["item_id"], REBUILT, item_view(r), r["user_id"], r["item_id"])
        for r in await conn.fetch(
            "SELECT * FROM items WHERE item_id = any($1) ORDER BY item_id", ids["items"]
        )
    ] + [
        Change("account", r["account_id"], REBUILT, account_view(r), r["user_id"], r["item_id"])
        for r in await conn.fetch(
            "SELECT * FROM accounts WHERE account_id = any($1) ORDER BY account_id", ids["accounts"]
        )
    ]
    await record_changes(conn, changes)
    await conn.execute(
        f"""INSERT INTO changes (user_id, item_id, entity, entity_id, op, version, data)
            SELECT t.user_id, t.item_id, 'transaction', t.transaction_id, $1, t.version,
                   {transaction_view_sql("t")}
              FROM transactions t WHERE t.transaction_id = any($2) ORDER BY t.transaction_id""",  # noqa: S608
        REBUILT,
        ids["transactions"],
    )
    return {
        "item": len(ids["items"]),
        "account": len(ids["accounts"]),
        "transaction": len(ids["transactions"]),
    }


async def _take_inbox(conn: asyncpg.Connection, target: str, live_group: str, rebuild_group: str) -> None:
    """Every event the rebuild applied that the live inbox lacks (those past the live group's offsets,
    and those the live ledger dead-lettered) enters it under the live group, so a re-read after the swap
    is skipped. Its cost follows the rebuild's inbox (one anti-join), not the differences."""
    await conn.execute(
        f"""INSERT INTO inbox (consumer, event_id, event_type, processed_at)
            SELECT $1, r.event_id, r.event_type, r.processed_at FROM {target}.inbox r
             WHERE r.consumer = $2
               AND NOT EXISTS (SELECT 1 FROM inbox l WHERE l.consumer = $1 AND l.event_id = r.event_id)""",  # noqa: S608
        live_group,
        rebuild_group,
    )


async def stored_columns(conn: asyncpg.Connection, table: str) -> list[str]:
    """The (schema-qualified) table's columns, in their order; not those PostgreSQL computes itself
    (generated: they follow the others, and cannot be written)."""
    rows = await conn.fetch(
        """SELECT attname FROM pg_attribute
            WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
            ORDER BY attnum""",
        table,
    )
    return [r["attname"] for r in rows]
