-- One row per Item this worker syncs: its cursor, whether a run is wanted, and who holds the run lease.
-- A trigger sets wanted_at (the earliest time the run may start) and bumps trigger_version; a run
-- clears wanted_at at commit only if no newer trigger arrived meanwhile (trigger_version unchanged).
CREATE TABLE sync_items (
    item_id          text        PRIMARY KEY,
    status           text        NOT NULL DEFAULT 'active'
                                 CHECK (status IN ('active', 'needs_attention', 'removed')),
    cursor           text        NOT NULL DEFAULT '',
    last_sequence    bigint      NOT NULL DEFAULT 0,
    wanted_at        timestamptz,
    wanted_triggers  text[]      NOT NULL DEFAULT '{}',
    want_refresh     boolean     NOT NULL DEFAULT false,
    trigger_version  bigint      NOT NULL DEFAULT 0,
    not_before       timestamptz,
    failed_runs      int         NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_until      timestamptz,
    last_synced_at   timestamptz,
    last_error_code  text,
    update_status    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_items_due ON sync_items (wanted_at) WHERE wanted_at IS NOT NULL AND status = 'active';
CREATE INDEX sync_items_quiet ON sync_items (last_synced_at) WHERE status = 'active';
