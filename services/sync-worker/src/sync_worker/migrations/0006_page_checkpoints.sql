-- Page checkpoints (ADR 0011): each /transactions/sync page is committed with its cursor as it arrives,
-- so a crash loses at most the page in hand. While a pagination loop is open (has_more was true at the
-- last checkpoint), `cursor` is the next page's cursor and these columns describe the loop: the cursor it
-- started from (where TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION restarts it), its run id, its start,
-- its first sequence number and what it has committed so far. A loop's final commit clears them.
ALTER TABLE sync_items
    ADD COLUMN loop_run_id         uuid,
    ADD COLUMN loop_cursor         text,
    ADD COLUMN loop_started_at     timestamptz,
    ADD COLUMN loop_first_sequence bigint,
    ADD COLUMN loop_pages          int NOT NULL DEFAULT 0,
    ADD COLUMN loop_added          int NOT NULL DEFAULT 0,
    ADD COLUMN loop_modified       int NOT NULL DEFAULT 0,
    ADD COLUMN loop_removed        int NOT NULL DEFAULT 0,
    ADD COLUMN loop_restarts       int NOT NULL DEFAULT 0;
-- The transaction ids each committed page of the open loop touched, by the loop's restart count when it
-- was committed: after a restart, a transaction an abandoned pass published as `added` and the final pass
-- never mentions has vanished meanwhile (created and removed since the loop's start cursor: Plaid does
-- not report it), and the final commit publishes its removal. Deleted by the loop's final commit.
CREATE TABLE sync_loop_pages (
    item_id        text   NOT NULL,
    page           int    NOT NULL,
    pass           int    NOT NULL,
    added          text[] NOT NULL,
    added_accounts text[] NOT NULL,
    mentioned      text[] NOT NULL,
    PRIMARY KEY (item_id, page)
);
