"""Items and their health, as an operator needs them: link-svc's status joined with the sync-worker's view.

Read-only: link-svc's `items` (status, since when) and the sync-worker's `sync_items` (last sync, last
error, failed runs, whether a run is wanted or leased). Health, worst first:
    needs_repair   link-svc says the user must act (login_required, pending_expiration, permission_revoked)
    failing        the last sync failed, or the worker paused it (needs_attention)
    stale          active, and not synced for over a day (or never, a day after linking)
    syncing        a run holds its lease now
    ok             otherwise
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from bankstream_common.db import check_schema

STALE_AFTER = timedelta(days=1)
NEEDS_REPAIR = {"login_required", "pending_expiration", "permission_revoked"}

QUERY = """
SELECT i.item_id, i.institution_id, i.status, i.status_code, i.updated_at AS status_since, i.created_at,
       s.status AS sync_status, s.last_synced_at, s.last_error_code, s.failed_runs,
       s.wanted_at IS NOT NULL AS wanted, s.lease_until > now() AS leased
FROM {link}.items i LEFT JOIN {sync}.sync_items s USING (item_id)
WHERE ($1::text IS NULL OR i.status = $1) AND ($2::bool OR i.status <> 'removed')
ORDER BY i.created_at
"""


@dataclass
class ItemHealth:
    item_id: str
    institution_id: str | None
    status: str
    status_code: str | None
    status_since: datetime
    sync_status: str | None
    last_synced_at: datetime | None
    last_error_code: str | None
    failed_runs: int
    health: str

    def as_json(self) -> dict[str, object]:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in self.__dict__.items()}


def health_of(row: asyncpg.Record, now: datetime) -> str:
    if row["status"] in NEEDS_REPAIR:
        return "needs_repair"
    if row["status"] in ("error", "removed"):
        return str(row["status"])
    if row["sync_status"] == "needs_attention" or (row["failed_runs"] or 0) > 0:
        return "failing"
    synced = row["last_synced_at"] or row["created_at"]
    if row["sync_status"] == "active" and now - synced > STALE_AFTER:
        return "stale"
    if row["leased"]:
        return "syncing"
    return "ok"


async def list_items(
    database_url: str,
    *,
    link_schema: str = "link_svc",
    sync_schema: str = "sync_worker",
    status: str | None = None,
    include_removed: bool = False,
) -> list[ItemHealth]:
    sql = QUERY.format(link=check_schema(link_schema), sync=check_schema(sync_schema))
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(sql, status, include_removed)
    finally:
        await conn.close()
    now = datetime.now(UTC)
    return [
        ItemHealth(
            item_id=r["item_id"],
            institution_id=r["institution_id"],
            status=r["status"],
            status_code=r["status_code"],
            status_since=r["status_since"],
            sync_status=r["sync_status"],
            last_synced_at=r["last_synced_at"],
            last_error_code=r["last_error_code"],
            failed_runs=r["failed_runs"] or 0,
            health=health_of(r, now),
        )
        for r in rows
    ]
