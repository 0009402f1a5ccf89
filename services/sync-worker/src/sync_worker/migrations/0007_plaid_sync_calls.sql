-- Plaid's /transactions/sync rate limits, kept in PostgreSQL so every worker, restarted or new, respects
-- them (adapters/pacing.py): a row per call, holding its slot until `expires_at` (a window after the
-- answer; while in flight, a window after the call's timeout). `weight` > 1: a 429 holds an Item's slots
-- for a whole window. Rows are pruned once expired.
CREATE TABLE plaid_sync_calls (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id     text        NOT NULL,
    weight      int         NOT NULL DEFAULT 1,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX plaid_sync_calls_item ON plaid_sync_calls (item_id, expires_at);
CREATE INDEX plaid_sync_calls_expiry ON plaid_sync_calls (expires_at);
