-- An exchanged Item whose set-up (accounts, the items row, ItemLinked) has not finished yet. Plaid bills an
-- Item from its exchange, so it is recorded the moment the exchange answers, its sealed access token in
-- access_tokens like every Item's (which therefore no longer requires the items row to exist first), and
-- finished by the request or, when Plaid is failing transiently, later in the background.
ALTER TABLE access_tokens DROP CONSTRAINT IF EXISTS access_tokens_item_id_fkey;

CREATE TABLE item_setups (
    item_id              text        PRIMARY KEY,
    user_id              text        NOT NULL,
    public_token_sha256  bytea       NOT NULL UNIQUE,  -- a retried request finds its set-up by its token
    institution_id       text        NOT NULL,
    institution_name     text,
    offered_accounts     jsonb       NOT NULL DEFAULT '[]',  -- Link's metadata, for the twin check
    attempts             integer     NOT NULL DEFAULT 0,
    last_error_code      text,
    next_attempt_at      timestamptz NOT NULL DEFAULT now(),
    finished_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX item_setups_due ON item_setups (next_attempt_at) WHERE finished_at IS NULL;
