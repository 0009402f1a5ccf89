-- The history of every run: what triggered it, what it did, how long it took, how it failed.
CREATE TABLE sync_runs (
    run_id        uuid        PRIMARY KEY,
    item_id       text        NOT NULL,
    triggers      text[]      NOT NULL,
    outcome       text        NOT NULL CHECK (outcome IN ('completed', 'not_ready', 'failed')),
    pages         int         NOT NULL,
    restarts      int         NOT NULL,
    added         int         NOT NULL,
    modified      int         NOT NULL,
    removed       int         NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    duration_ms   int         NOT NULL,
    error_code    text,
    error_type    text,
    retryable     boolean,
    first_sequence bigint,
    last_sequence  bigint
);
CREATE INDEX sync_runs_item ON sync_runs (item_id, started_at DESC);
CREATE INDEX sync_runs_failed ON sync_runs (started_at DESC) WHERE outcome = 'failed';
