-- Reconciliations and CSV imports (docs/ledger-api.md, "Reconciliation" and "CSV import"; ADR 0013).

-- POST /v1/reconciliations: the request's parameters and the answer, kept to be fetched again.
CREATE TABLE reconciliations (
    reconciliation_id uuid        PRIMARY KEY,
    user_id           text        NOT NULL,
    parameters        jsonb       NOT NULL,
    result            jsonb       NOT NULL,   -- matched, unmatched_entries, unmatched_transactions, summary
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reconciliations_user ON reconciliations (user_id, created_at);

-- POST /v1/imports: one job per uploaded file, worked through in batches; each batch is ONE transaction
-- that writes its rows, its findings, its events (outbox) and the job's progress (`processed`).
CREATE TABLE imports (
    import_id    uuid        PRIMARY KEY,
    user_id      text        NOT NULL,
    account_id   text        NOT NULL,
    item_id      text        NOT NULL,
    iso_currency_code text,
    layout       text        NOT NULL,
    options      jsonb       NOT NULL,     -- the column mapping and the dedup parameters
    file_sha256  text        NOT NULL,
    body         text,                     -- the CSV as received; cleared once the job is finished
    state        text        NOT NULL DEFAULT 'running',   -- running | succeeded | failed
    error        text,                     -- failed: why (a bug, never the file: bad lines are findings)
    total        integer     NOT NULL,     -- data lines in the file
    processed    integer     NOT NULL DEFAULT 0,   -- data lines done (the resume point)
    imported     integer     NOT NULL DEFAULT 0,
    duplicates   integer     NOT NULL DEFAULT 0,
    bad          integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX imports_user ON imports (user_id, created_at);
CREATE INDEX imports_running ON imports (created_at) WHERE state = 'running';

-- What an import found on a line: a duplicate (and of what) or a bad line (and why).
CREATE TABLE import_findings (
    import_id  uuid    NOT NULL,
    line       integer NOT NULL,           -- the physical line of the file (1 = the first)
    kind       text    NOT NULL,           -- duplicate | bad
    detail     jsonb   NOT NULL,
    PRIMARY KEY (import_id, line)
);

-- Every row an import turned into an event: found by the next import before (and after) the categorizer
-- sent it back to the ledger's `transactions`.
CREATE TABLE import_rows (
    transaction_id text          PRIMARY KEY,
    import_id      uuid          NOT NULL,
    account_id     text          NOT NULL,
    line           integer       NOT NULL,
    imported_id    text,
    date           date          NOT NULL,
    amount         numeric(18,2) NOT NULL,
    description    text          NOT NULL
);
CREATE INDEX import_rows_match ON import_rows (account_id, amount, date);
CREATE INDEX import_rows_imported_id ON import_rows (account_id, imported_id) WHERE imported_id IS NOT NULL;

-- Dedup and reconciliation look for an account's transactions by amount within a date window.
CREATE INDEX transactions_account_amount ON transactions (account_id, amount, date) WHERE NOT removed;
