-- The ledger's read models, projected from every stream (see docs/ledger-api.md). Money is numeric(18,2) in
-- Plaid's sign: positive = money out of the account. A row's user_id may be NULL until the Item's
-- ItemLinked has been projected (cross-topic order is not guaranteed); projecting ItemLinked fills it in.

CREATE TABLE items (
    item_id              text        PRIMARY KEY,
    user_id              text,
    institution_id       text,
    institution_name     text,
    status               text        NOT NULL DEFAULT 'unknown',
    needs_repair         boolean     NOT NULL DEFAULT false,
    status_code          text,                    -- the webhook code / Plaid error behind the status
    status_changed_at    timestamptz,
    removed_at           timestamptz,
    last_synced_at       timestamptz,             -- finished_at of the last SyncCompleted
    last_sync_failed_at  timestamptz,
    last_sync_error_code text,
    linked_at            timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX items_user ON items (user_id);

CREATE TABLE accounts (
    account_id           text        PRIMARY KEY,
    item_id              text        NOT NULL,
    user_id              text,
    name                 text,
    official_name        text,
    mask                 text,
    type                 text,
    subtype              text,
    balance_available    numeric(18,2),
    balance_current      numeric(18,2),
    balance_limit        numeric(18,2),
    iso_currency_code    text,
    unofficial_currency_code text,
    balance_as_of        timestamptz,             -- when the balances were true (AccountUpdated.as_of)
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_user ON accounts (user_id);
CREATE INDEX accounts_item ON accounts (item_id);

-- One point per account per day (the last balance known that day); kept forever.
CREATE TABLE balance_history (
    account_id           text        NOT NULL,
    day                  date        NOT NULL,
    balance_available    numeric(18,2),
    balance_current      numeric(18,2),
    balance_limit        numeric(18,2),
    iso_currency_code    text,
    as_of                timestamptz NOT NULL,
    PRIMARY KEY (account_id, day)
);

-- One row per transaction_id, the latest version the categorizer published; removed ones stay as tombstones.
-- The user_* columns are the user's edits: projections never write them (they are "locked"); a posted
-- transaction inherits them from the pending one it replaces (pending_transaction_id).
CREATE TABLE transactions (
    transaction_id       text        PRIMARY KEY,
    user_id              text,
    item_id              text        NOT NULL,
    account_id           text        NOT NULL,
    version              bigint      NOT NULL,    -- TransactionCategorized.version: an older one never wins
    removed              boolean     NOT NULL DEFAULT false,
    removed_at           timestamptz,
    pending              boolean,
    pending_transaction_id text,
    amount               numeric(18,2),
    iso_currency_code    text,
    unofficial_currency_code text,
    date                 date,
    authorized_date      date,
    datetime             timestamptz,
    name                 text,
    merchant_name        text,
    original_description text,
    payment_channel      text,
    category_primary     text,                    -- the categorizer's decision
    category_detailed    text,
    category_source      text,
    category_confidence  real,
    category_decided_by  text,
    category_needs_review boolean NOT NULL DEFAULT false,
    plaid_category_detailed text,                 -- Plaid's own PFC detailed, for reference
    details              jsonb,                   -- the rest of the transaction (location, counterparties, ...)
    user_category_primary  text,                  -- the user's edits (locked against projections)
    user_category_detailed text,
    user_notes           text,
    user_tags            text[]      NOT NULL DEFAULT '{}',
    user_hidden          boolean     NOT NULL DEFAULT false,
    user_edited_at       timestamptz,
    edit_version         bigint      NOT NULL DEFAULT 0,   -- bumped by every user edit (part of the ETag)
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_pending_of ON transactions (pending_transaction_id) WHERE pending_transaction_id IS NOT NULL;
CREATE INDEX transactions_item ON transactions (item_id);

-- Every change the ledger made, for the change feed (GET /v1/changes) and SSE (GET /v1/stream), and for a
-- transaction's history. Feed order is (txid, seq); a reader only returns rows whose txid is below
-- pg_snapshot_xmin(pg_current_snapshot()), so a later commit can never appear behind a cursor already served.
CREATE TABLE changes (
    seq                  bigint      GENERATED ALWAYS AS IDENTITY,
    txid                 xid8        NOT NULL DEFAULT pg_current_xact_id(),
    user_id              text,                    -- filled in with the Item's user when it becomes known
    item_id              text,
    entity               text        NOT NULL CHECK (entity IN ('transaction', 'account', 'item')),
    entity_id            text        NOT NULL,
    op                   text        NOT NULL,    -- added | modified | removed | recategorized | edited | status | balance | linked
    version              bigint,
    data                 jsonb       NOT NULL,    -- the entity's public state after the change
    at                   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (txid, seq)
);
CREATE INDEX changes_user ON changes (user_id, txid, seq);
CREATE INDEX changes_entity ON changes (entity_id, txid, seq);
