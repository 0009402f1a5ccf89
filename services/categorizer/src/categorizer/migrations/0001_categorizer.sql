-- Which user owns an Item (from bankstream.items), and a per-user counter bumped whenever the user's
-- rules or learned keys change: the stream reads it FOR SHARE, a change updates it, so a decision never
-- interleaves with a rule change (and cached user contexts know when they are stale).
CREATE TABLE items (
    item_id    text PRIMARY KEY,
    user_id    text NOT NULL,
    removed    boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_context (
    user_id text PRIMARY KEY,
    version bigint NOT NULL DEFAULT 1
);

-- Each transaction's current state and the last category emitted for it; `version` counts every
-- TransactionCategorized emitted for it.
CREATE TABLE transactions (
    transaction_id text PRIMARY KEY,
    account_id     text NOT NULL,
    item_id        text NOT NULL,
    user_id        text,
    merchant_key   text,
    state          jsonb,          -- null once removed
    category       jsonb,          -- null once removed
    version        integer NOT NULL,
    sync_sequence  bigint,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_user ON transactions (user_id, transaction_id);
CREATE INDEX transactions_item ON transactions (item_id, transaction_id);
CREATE INDEX transactions_user_key ON transactions (user_id, merchant_key);

-- A user's explicit category for one transaction (CategoryOverridden): never overwritten here.
CREATE TABLE overrides (
    transaction_id text PRIMARY KEY,
    user_id        text NOT NULL,
    primary_cat    text NOT NULL,
    detailed       text NOT NULL,
    overridden_at  timestamptz NOT NULL,
    event_id       uuid NOT NULL
);

CREATE TABLE rules (
    rule_id    text PRIMARY KEY,
    user_id    text NOT NULL,
    seq        bigserial,
    spec       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rules_user ON rules (user_id);

-- Corrections as they came (the learning window reads the last few per user and key) and what they taught.
CREATE TABLE corrections (
    id             bigserial PRIMARY KEY,
    user_id        text NOT NULL,
    merchant_key   text NOT NULL,
    detailed       text NOT NULL,
    transaction_id text NOT NULL,
    overridden_at  timestamptz NOT NULL,
    event_id       uuid NOT NULL
);
CREATE INDEX corrections_key ON corrections (user_id, merchant_key, overridden_at DESC, id DESC);

CREATE TABLE learned (
    user_id      text NOT NULL,
    merchant_key text NOT NULL,
    detailed     text NOT NULL,
    learned_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, merchant_key)
);

-- Re-categorization jobs: bounded batches, each one DB transaction that records its progress (`cursor`,
-- counts) with the events it emits; a restarted process resumes from the last committed batch.
CREATE TABLE jobs (
    job_id       uuid PRIMARY KEY,
    user_id      text NOT NULL,
    item_id      text,             -- only this Item's transactions (after a late ItemLinked)
    merchant_key text,             -- only this merchant key's transactions (after learning)
    reason       text NOT NULL,    -- rule_created | rule_updated | rule_deleted | learned | item_linked
    caused_by    text NOT NULL,    -- the rule id or the event id behind it
    state        text NOT NULL DEFAULT 'running',   -- running | succeeded
    total        integer NOT NULL,
    processed    integer NOT NULL DEFAULT 0,
    changed      integer NOT NULL DEFAULT 0,
    cursor       text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX jobs_running ON jobs (created_at) WHERE state = 'running';
